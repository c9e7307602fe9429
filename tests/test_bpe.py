#!/usr/bin/python3
"""test_bpe.py LLMSCALE - the tokenizer against Python references we did not
derive from the C code (tests/reference/bpe_ref.py):
  1. pre-splitting == GPT-2's regex (Python `regex`) on every code point of
     planes 0-3 and 14 in revealing contexts, and on random mixed text;
  2. `prepare --tokenizer bpe` == brute-force BPE training: same merges in the
     same order, same shard tokens, same encodings of unseen text;
  3. `--tokenizer gpt2:DIR` with a synthetic encoder.json/vocab.bpe (GPT-2 id
     order, \\u escapes, a shuffled merge order, a duplicated merge) == GPT-2's
     encoder algorithm, for `tokenize` and for `prepare` shards.
Prints 'N passed, N failed'."""
import json
import os
import random
import struct
import subprocess
import sys
import shutil
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'reference'))
import bpe_ref  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
T = tempfile.mkdtemp(prefix='llmscale_bpe.')
passed = failed = 0


def check(name, ok, detail=''):
    global passed, failed
    if ok:
        passed += 1
        print('ok -', name)
    else:
        failed += 1
        print('FAIL -', name, detail[:2000])


def run(*args):
    r = subprocess.run([BIN] + list(args), capture_output=True)
    if r.returncode != 0:
        raise SystemExit('llmscale %s failed: %s' % (' '.join(args), r.stderr.decode(errors='replace')))
    return r.stdout


def write(path, data):
    with open(path, 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode('utf-8'))
    return path


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return 'first difference at %d: %r vs %r' % (i, a[max(0, i - 3):i + 4], b[max(0, i - 3):i + 4])
    return 'lengths %d vs %d' % (len(a), len(b))


def shard_tokens(path):
    with open(path, 'rb') as f:
        data = f.read()
    magic, version, n = struct.unpack('<3i', data[:12])
    assert magic == 20240520 and version == 1 and len(data) == 1024 + 2 * n
    return list(struct.unpack('<%dH' % n, data[1024:]))


def read_merges(path):
    """our tokenizer.bin: skip the llm.c table, parse the merge section"""
    with open(path, 'rb') as f:
        data = f.read()
    magic, version, vocab, eot = struct.unpack('<4I', data[:16])
    pos = 1024
    for _ in range(vocab):
        pos += 1 + data[pos]
    m_magic, m_version, nm, pretok = struct.unpack('<4I', data[pos:pos + 16])
    assert m_magic == 0x4D45504C and m_version == 1 and pretok == 1
    body = data[pos + 16 + 1024:pos + 16 + 1024 + 12 * nm]
    trip = struct.unpack('<%dI' % (3 * nm), body)
    return vocab, eot, [(trip[3 * i], trip[3 * i + 1]) for i in range(nm)], \
        [trip[3 * i + 2] for i in range(nm)]


rng = random.Random(20240328)
PALETTE = (list('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ') * 4 + list('0123456789') * 2 +
           list(" \t\n\r.,;:!?'\"()-_/\\@#") * 3 + ["'s", "'re", "'ll", "'d", "'t", "'ve", "'m", "'S", '  ', '   ', '\n\n', ' \n'] +
           list('éüßñçÅØЖжПпΩωλ中文字日本語한국어') + ['١٢٣', '²³', 'Ⅻ', '\u00a0', '\u3000', '\u2028', '\u0301', '😀', '🎉', '\u200b', '\x00', '\x1c'])


def random_text(n):
    return ''.join(rng.choice(PALETTE) for _ in range(n))


# ---- 1. pre-splitting ----
ctx = []
for cp in list(range(0, 0x40000)) + list(range(0xE0000, 0xE0200)):
    if 0xD800 <= cp <= 0xDFFF:
        continue
    ctx.append('x' + chr(cp) + '5 ' + chr(cp) + chr(cp) + 'a ')
big = ''.join(ctx)
f = write(os.path.join(T, 'codepoints.txt'), big)
got = run('tokenize', '--tokenizer', 'byte', '--split', '--file', f).decode('ascii').split('\n')[:-1]
want = [bpe_ref.escape(w) for w in bpe_ref.pretokenize(big)]
check('pre-split of every code point in planes 0-3, 14 (%d pre-tokens)' % len(want), got == want,
      first_diff(got, want))
ok = True
for k in range(30):
    text = random_text(rng.randint(1, 400))
    f = write(os.path.join(T, 'split.txt'), text)
    got = run('tokenize', '--tokenizer', 'byte', '--split', '--file', f).decode('ascii').split('\n')[:-1]
    want = [bpe_ref.escape(w) for w in bpe_ref.pretokenize(text)]
    if got != want:
        ok = False
        check('pre-split random text %d' % k, False, repr(text) + ' ' + first_diff(got, want))
        break
check('pre-split of 30 random mixed texts', ok)


# ---- 2. BPE training vs the brute-force reference ----
def corpus_random(ndocs):
    words = [random_text(rng.randint(1, 6)) for _ in range(60)]
    docs = []
    for _ in range(ndocs):
        # Zipf-like reuse of a small word list, so pairs repeat and counts tie
        docs.append(''.join(words[min(int(rng.expovariate(0.15)), 59)] + rng.choice([' ', '', '\n', ', '])
                            for _ in range(rng.randint(5, 80))))
    return docs


with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data',
                       'tinyshakespeare.txt'), 'rb') if os.path.exists(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data',
                     'tinyshakespeare.txt')) else open(__file__, 'rb') as fh:
    shakes = fh.read()[:6000].decode('utf-8', errors='ignore')
CORPORA = [
    ('random unicode docs', corpus_random(40), 600),
    ('ties and runs', ['aaaa aaaaa ab ab abab baba aaa', 'bbbb abab aa  aa\n\naaaa', 'zz zz yy yy xx'], 290),
    ('english text', [shakes[:3000], shakes[3000:]], 420),
]
for name, docs, vocab in CORPORA:
    d = os.path.join(T, 'docs_' + name.replace(' ', '_'))
    os.makedirs(d)
    for i, doc in enumerate(docs):
        write(os.path.join(d, 'doc%03d.txt' % i), doc)
    out = os.path.join(T, 'out_' + name.replace(' ', '_'))
    run('prepare', '--input', d, '--out', out, '--tokenizer', 'bpe', '--vocab-size', str(vocab),
        '--val-fraction', '0')
    ref = bpe_ref.train(docs, vocab)
    V, eot, merges, results = read_merges(os.path.join(out, 'tokenizer.bin'))
    check('%s: %d merges in the same order' % (name, len(ref)), merges == ref, first_diff(merges, ref))
    check('%s: vocab %d, eot last, merge i -> id 256+i' % (name, V),
          V == 257 + len(ref) and eot == V - 1 and results == list(range(256, 256 + len(ref))))
    want = []
    for doc in docs:
        want += [eot] + bpe_ref.encode(doc.encode('utf-8'), ref)
    got = shard_tokens(os.path.join(out, 'train_000000.bin'))
    check('%s: shard tokens == reference encoding (%d tokens)' % (name, len(want)), got == want,
          first_diff(got, want))
    ok = True
    for k in range(10):
        text = random_text(rng.randint(1, 300)) if k % 2 else shakes[rng.randint(0, 5000):][:300]
        f = write(os.path.join(T, 'enc.txt'), text)
        got = [int(x) for x in run('tokenize', '--tokenizer', os.path.join(out, 'tokenizer.bin'),
                                   '--file', f).split(b',') if x.strip()]
        want = bpe_ref.encode(text.encode('utf-8'), ref)
        if got != want:
            ok = False
            check('%s: encode unseen text' % name, False, repr(text) + ' ' + first_diff(got, want))
            break
    check('%s: 10 unseen texts encode as the reference' % name, ok)


# ---- 3. GPT-2 compatibility with synthetic encoder.json + vocab.bpe ----
b2u = bpe_ref.bytes_to_unicode()
docs = corpus_random(10) + [shakes[:2000]]
ref = bpe_ref.train(docs, 520)
pieces = {i: bytes([i]) for i in range(256)}
for i, (a, b) in enumerate(ref):
    pieces[256 + i] = pieces[a] + pieces[b]


def u(bs):
    return ''.join(b2u[c] for c in bs)


for variant in ('trained order', 'shuffled order + duplicate'):
    mlist = [(u(pieces[a]), u(pieces[b])) for a, b in ref]
    if variant != 'trained order':
        rng.shuffle(mlist)
        mlist.append(mlist[len(mlist) // 3])  # a repeated pair: GPT-2's dict keeps its last rank
    # GPT-2's id order: the 256 byte characters in bytes_to_unicode order, then merges, then EOT
    encoder = {}
    for bch in b2u.values():
        encoder[bch] = len(encoder)
    for a, b in mlist:
        if a + b not in encoder:
            encoder[a + b] = len(encoder)
    encoder['<|endoftext|>'] = len(encoder)
    gd = os.path.join(T, 'gpt2_' + str(len(variant)))
    os.makedirs(gd)
    with open(os.path.join(gd, 'encoder.json'), 'w') as fh:
        json.dump(encoder, fh)  # ensure_ascii: non-ASCII as \uXXXX, as GPT-2's file
    with open(os.path.join(gd, 'vocab.bpe'), 'w', encoding='utf-8') as fh:
        fh.write('#version: 0.2\n' + ''.join('%s %s\n' % m for m in mlist))
    enc = bpe_ref.Gpt2Encoder(encoder, mlist)
    ok = True
    for k in range(25):
        text = random_text(rng.randint(1, 400)) if k % 3 else shakes[rng.randint(0, 5000):][:400]
        f = write(os.path.join(T, 'g.txt'), text)
        got = [int(x) for x in run('tokenize', '--tokenizer', 'gpt2:' + gd, '--file', f).split(b',') if x.strip()]
        want = enc.encode(text)
        if got != want:
            ok = False
            check('gpt2 %s: encode' % variant, False, repr(text) + ' ' + first_diff(got, want))
            break
    check('gpt2 %s: 25 texts encode as GPT-2\'s algorithm' % variant, ok)
    out = os.path.join(T, 'gout' + str(len(variant)))
    dd = os.path.join(T, 'docs_random_unicode_docs')
    run('prepare', '--input', dd, '--out', out, '--tokenizer', 'gpt2:' + gd, '--val-fraction', '0')
    want = []
    for name in sorted(os.listdir(dd)):
        with open(os.path.join(dd, name), encoding='utf-8', newline='') as fh:
            want += [encoder['<|endoftext|>']] + enc.encode(fh.read())
    got = shard_tokens(os.path.join(out, 'train_000000.bin'))
    check('gpt2 %s: prepare shards == GPT-2 encoding (%d tokens)' % (variant, len(want)), got == want,
          first_diff(got, want))
    # the tokenizer.bin prepare wrote reproduces the same encodings
    text = random_text(300)
    f = write(os.path.join(T, 'g2.txt'), text)
    got = [int(x) for x in run('tokenize', '--tokenizer', os.path.join(out, 'tokenizer.bin'), '--file', f).split(b',')]
    check('gpt2 %s: saved tokenizer.bin encodes the same' % variant, got == enc.encode(text))

print('%d passed, %d failed' % (passed, failed))
if failed:
    print('(inputs kept in %s)' % T)
else:
    shutil.rmtree(T)
sys.exit(1 if failed else 0)
