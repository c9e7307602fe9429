"""bpe_ref.py - straightforward Python references for the data pipeline tests.

Written for clarity, not speed (tiny corpora only):
  pretokenize(text)     GPT-2's regex split, with the `regex` module as GPT-2 uses it
  train(docs, vocab)    brute-force byte-level BPE: recount every pair before each merge
  encode(...)           GPT-2's bpe(): lowest-rank pair, merge all occurrences, repeat
  Gpt2Encoder           GPT-2's encoder.py algorithm over encoder.json + vocab.bpe
The rules they implement are the documented ones (src/data/bpe_train.h,
bpe_encode.h, pretokenize.h); nothing here is read from the C code."""
import regex

GPT2_PATTERN = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def pretokenize(text):
    """GPT-2's pre-tokens of a str, each as UTF-8 bytes."""
    return [t.encode('utf-8') for t in GPT2_PATTERN.findall(text)]


def escape(b):
    """The quoting `llmscale tokenize --split/--pieces` prints."""
    out = ['"']
    for c in b:
        if c in (0x22, 0x5C):
            out.append('\\' + chr(c))
        elif c == 0x0A:
            out.append('\\n')
        elif c == 0x09:
            out.append('\\t')
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append('\\x%02x' % c)
    out.append('"')
    return ''.join(out)


def train(docs, vocab_size):
    """Brute force: returns [(a, b)] with merge i creating id 256 + i."""
    counts = {}
    for d in docs:
        for w in pretokenize(d):
            counts[w] = counts.get(w, 0) + 1
    words = [[list(w), c] for w, c in counts.items()]
    length = {i: 1 for i in range(256)}
    merges = []
    while len(merges) < vocab_size - 257:
        pc = {}
        for syms, c in words:
            for i in range(len(syms) - 1):
                p = (syms[i], syms[i + 1])
                pc[p] = pc.get(p, 0) + c
        cand = [(c, p) for p, c in pc.items() if length[p[0]] + length[p[1]] <= 255]
        if not cand:
            break
        # highest count; ties: smallest a, then smallest b
        best = min(cand, key=lambda cp: (-cp[0], cp[1][0], cp[1][1]))[1]
        x = 256 + len(merges)
        merges.append(best)
        length[x] = length[best[0]] + length[best[1]]
        for ws in words:
            syms, out, i = ws[0], [], 0
            while i < len(syms):
                if i + 1 < len(syms) and (syms[i], syms[i + 1]) == best:
                    out.append(x)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            ws[0] = out
    return merges


def bpe_word(symbols, ranks):
    """GPT-2's bpe() on a tuple of hashable symbols; ranks: pair -> (rank, joined)."""
    word = list(symbols)
    while len(word) > 1:
        pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
        best = min(pairs, key=lambda p: ranks[p][0] if p in ranks else float('inf'))
        if best not in ranks:
            break
        joined = ranks[best][1]
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                out.append(joined)
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
    return word


def encode(text_bytes, merges):
    """Our trained tokenizer: ids 0..255 bytes, merge i -> 256 + i.
    Pre-split on the decoded text (valid UTF-8 only)."""
    ranks = {}
    for i, (a, b) in enumerate(merges):
        ranks[(a, b)] = (i, 256 + i)
    out = []
    for w in pretokenize(text_bytes.decode('utf-8')):
        out.extend(bpe_word(tuple(w), ranks))
    return out


def bytes_to_unicode():
    """GPT-2's byte -> printable character table."""
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + \
        list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


class Gpt2Encoder:
    """GPT-2's encoder.py algorithm (string tokens, dict ranks, later duplicates win)."""

    def __init__(self, encoder, merges):
        self.encoder = encoder
        self.byte_encoder = bytes_to_unicode()
        self.ranks = {}
        for i, (a, b) in enumerate(merges):
            self.ranks[(a, b)] = (i, a + b)

    def encode(self, text):
        ids = []
        for tok in GPT2_PATTERN.findall(text):
            s = ''.join(self.byte_encoder[b] for b in tok.encode('utf-8'))
            ids.extend(self.encoder[t] for t in bpe_word(tuple(s), self.ranks))
        return ids
