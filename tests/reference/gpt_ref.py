#!/usr/bin/python3
"""PyTorch reference implementation of the llmscale GPT-2 trainer.

The C test suite uses this script to produce "golden" numbers: logits,
loss, gradients, per-step losses and final parameters after a few AdamW
steps.  Everything is written explicitly (no fused attention) so the math
mirrors what the C code does.

Run with Debian's interpreter (it has torch):  /usr/bin/python3 gpt_ref.py ...

Subcommands
  make-model --layers L --dim C --heads NH --seq maxT --vocab V --seed S --out FILE
  make-batch --B B --T T --n NMICRO --vocab V --seed S --out FILE
  run --model FILE --batch FILE --out FILE [--steps 10] [--grad-accum 1]
      [--lr 1e-3] [--beta1 0.9] [--beta2 0.95] [--eps 1e-8]
      [--weight-decay 0.1] [--grad-clip 0] [--dtype float64|float32]

File formats (all little-endian)
  model : int32 header[256] = {20240326, 3, maxT, V, L, NH, C, Vp, 0...},
          then float32 tensors in PARAM_ORDER (see below).
  batch : int32 B, T, nmicro, then nmicro x (int32 x[B*T], int32 y[B*T]).
  output: int32 header[8] = {20261123, B, T, Vp, P, N, A, 0}, then float32:
          logits of step 0's first micro-batch (B*T*Vp), step-0 loss (1),
          step-0 grad norm before clipping (1), step-0 grads before
          clipping (P, model order), losses of steps 0..N-1 (N),
          final parameters after N updates (P, model order).
"""
import argparse
import math
import sys

import numpy as np
import torch

MODEL_MAGIC, MODEL_VERSION = 20240326, 3
OUT_MAGIC = 20261123

# Parameter tensors in file order.  Per-layer tensors carry a leading L
# dimension, so flattening each tensor and concatenating reproduces the file.
PARAM_ORDER = ["wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw",
               "attprojb", "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb",
               "lnfw", "lnfb"]
# 2-D matrices (per layer) that receive AdamW weight decay.
DECAYED = {"wte", "wpe", "qkvw", "attprojw", "fcw", "fcprojw"}


def param_shapes(maxT, L, C, Vp):
    return {
        "wte": (Vp, C), "wpe": (maxT, C),
        "ln1w": (L, C), "ln1b": (L, C),
        "qkvw": (L, 3 * C, C), "qkvb": (L, 3 * C),
        "attprojw": (L, C, C), "attprojb": (L, C),
        "ln2w": (L, C), "ln2b": (L, C),
        "fcw": (L, 4 * C, C), "fcb": (L, 4 * C),
        "fcprojw": (L, C, 4 * C), "fcprojb": (L, C),
        "lnfw": (C,), "lnfb": (C,),
    }


# ----------------------------------------------------------------------------
# File I/O

def read_model(path):
    """Returns (config dict, {name: float32 numpy array})."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(256 * 4), dtype="<i4")
        assert header[0] == MODEL_MAGIC, "bad model magic"
        assert header[1] == MODEL_VERSION, "only fp32 (version 3) supported"
        cfg = dict(maxT=int(header[2]), V=int(header[3]), L=int(header[4]),
                   NH=int(header[5]), C=int(header[6]), Vp=int(header[7]))
        shapes = param_shapes(cfg["maxT"], cfg["L"], cfg["C"], cfg["Vp"])
        params = {}
        for name in PARAM_ORDER:
            n = int(np.prod(shapes[name]))
            buf = np.frombuffer(f.read(n * 4), dtype="<f4")
            assert buf.size == n, "model file truncated at " + name
            params[name] = buf.reshape(shapes[name]).copy()
        assert f.read(1) == b"", "trailing bytes in model file"
    return cfg, params


def write_model(path, cfg, params):
    header = np.zeros(256, dtype="<i4")
    header[:8] = [MODEL_MAGIC, MODEL_VERSION, cfg["maxT"], cfg["V"], cfg["L"],
                  cfg["NH"], cfg["C"], cfg["Vp"]]
    with open(path, "wb") as f:
        f.write(header.tobytes())
        for name in PARAM_ORDER:
            f.write(np.asarray(params[name], dtype="<f4").tobytes())


def read_batch(path):
    """Returns (B, T, list of (x, y) int64 arrays of shape (B, T))."""
    data = np.fromfile(path, dtype="<i4")
    B, T, n = (int(v) for v in data[:3])
    assert data.size == 3 + n * 2 * B * T, "batch file has wrong size"
    micro, off = [], 3
    for _ in range(n):
        x = data[off:off + B * T].reshape(B, T).astype(np.int64)
        off += B * T
        y = data[off:off + B * T].reshape(B, T).astype(np.int64)
        off += B * T
        micro.append((x, y))
    return B, T, micro


# ----------------------------------------------------------------------------
# Model

def layernorm(x, w, b, eps=1e-5):
    """LN(x) = (x - mean) / sqrt(var + eps) * w + b, over the last dim.
    var is the biased (population) variance, as in GPT-2 / torch."""
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return (x - mean) * torch.rsqrt(var + eps) * w + b


def gelu_tanh(x):
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi)
                                       * (x + 0.044715 * x ** 3)))


def attention(qkv, NH):
    """Causal multi-head self-attention on packed qkv of shape (B, T, 3C).

    For each head h with head size hs = C/NH:
        att[t, s] = softmax_s( q_t . k_s / sqrt(hs) )  for s <= t (else -inf)
        y_t       = sum_s att[t, s] v_s
    Heads are concatenated back to (B, T, C)."""
    B, T, C3 = qkv.shape
    C = C3 // 3
    hs = C // NH
    q, k, v = qkv.split(C, dim=-1)
    # (B, T, C) -> (B, NH, T, hs)
    q, k, v = (t.reshape(B, T, NH, hs).transpose(1, 2) for t in (q, k, v))
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))  # (B,NH,T,T)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    scores = scores.masked_fill(~causal, float("-inf"))
    att = torch.softmax(scores, dim=-1)
    y = att @ v                                                # (B,NH,T,hs)
    return y.transpose(1, 2).reshape(B, T, C)


def forward(p, cfg, x, y=None):
    """Returns (logits (B,T,Vp), loss or None).  p: dict of tensors."""
    B, T = x.shape
    L, NH, V = cfg["L"], cfg["NH"], cfg["V"]
    h = p["wte"][x] + p["wpe"][:T]                 # token + position embedding
    for l in range(L):
        # attention block (pre-norm, residual)
        a = layernorm(h, p["ln1w"][l], p["ln1b"][l])
        qkv = a @ p["qkvw"][l].T + p["qkvb"][l]
        att = attention(qkv, NH)
        h = h + att @ p["attprojw"][l].T + p["attprojb"][l]
        # MLP block (pre-norm, residual): C -> 4C -> gelu -> C
        m = layernorm(h, p["ln2w"][l], p["ln2b"][l])
        m = gelu_tanh(m @ p["fcw"][l].T + p["fcb"][l])
        h = h + m @ p["fcprojw"][l].T + p["fcprojb"][l]
    hf = layernorm(h, p["lnfw"], p["lnfb"])
    logits = hf @ p["wte"].T                       # tied LM head, padded Vp
    if y is None:
        return logits, None
    # Cross-entropy over the real vocabulary only: the padded columns
    # V..Vp-1 are excluded from the softmax. Mean over all B*T tokens.
    real = logits[..., :V].reshape(B * T, V)
    loss = torch.nn.functional.cross_entropy(real, y.reshape(-1))
    return logits, loss


# ----------------------------------------------------------------------------
# Subcommands

def cmd_make_model(a):
    Vp = (a.vocab + 127) // 128 * 128
    cfg = dict(maxT=a.seq, V=a.vocab, L=a.layers, NH=a.heads, C=a.dim, Vp=Vp)
    assert a.dim % a.heads == 0, "dim must be divisible by heads"
    rng = np.random.RandomState(a.seed)
    params = {}
    for name, shape in param_shapes(a.seq, a.layers, a.dim, Vp).items():
        if name.startswith("ln") and name.endswith("w"):     # LN gains
            params[name] = 1.0 + rng.normal(0.0, 0.1, shape)
        elif name in DECAYED:                                # 2-D weights
            params[name] = rng.normal(0.0, 0.1, shape)
        else:                                                # biases, LN biases
            params[name] = rng.normal(0.0, 0.05, shape)
    write_model(a.out, cfg, params)
    P = sum(v.size for v in params.values())
    print(f"wrote {a.out}: L={a.layers} C={a.dim} NH={a.heads} maxT={a.seq} "
          f"V={a.vocab} Vp={Vp} P={P}")


def cmd_make_batch(a):
    rng = np.random.RandomState(a.seed)
    out = [np.array([a.B, a.T, a.n], dtype="<i4")]
    for _ in range(a.n):
        out.append(rng.randint(0, a.vocab, size=a.B * a.T).astype("<i4"))  # x
        out.append(rng.randint(0, a.vocab, size=a.B * a.T).astype("<i4"))  # y
    np.concatenate(out).astype("<i4").tofile(a.out)
    print(f"wrote {a.out}: B={a.B} T={a.T} n={a.n} vocab={a.vocab}")


def flat_f32(tensors):
    """Concatenate tensors (in the given order) as one float32 numpy vector."""
    return np.concatenate([t.detach().reshape(-1).to(torch.float32).numpy()
                           for t in tensors]).astype("<f4")


def cmd_run(a):
    dtype = {"float64": torch.float64, "float32": torch.float32}[a.dtype]
    cfg, np_params = read_model(a.model)
    B, T, micro = read_batch(a.batch)
    assert T <= cfg["maxT"], "batch T exceeds model maxT"
    A, N = a.grad_accum, a.steps

    # Parameters as leaf tensors in file order (leading L dim kept).
    params = {n: torch.nn.Parameter(torch.from_numpy(np_params[n]).to(dtype))
              for n in PARAM_ORDER}
    plist = [params[n] for n in PARAM_ORDER]
    P = sum(t.numel() for t in plist)
    opt = torch.optim.AdamW(
        [{"params": [params[n] for n in PARAM_ORDER if n in DECAYED],
          "weight_decay": a.weight_decay},
         {"params": [params[n] for n in PARAM_ORDER if n not in DECAYED],
          "weight_decay": 0.0}],
        lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)

    losses = []
    for s in range(N):
        opt.zero_grad(set_to_none=False)
        step_loss = 0.0
        for j in range(A):
            xb, yb = micro[(s * A + j) % len(micro)]
            logits, loss = forward(params, cfg, torch.from_numpy(xb),
                                   torch.from_numpy(yb))
            # Step loss is the mean over micro-batches: scale each by 1/A and
            # accumulate gradients (backward() sums into .grad).
            (loss / A).backward()
            step_loss += loss.item() / A
            if s == 0 and j == 0:
                logits0 = logits.detach().to(torch.float32).numpy().copy()
        losses.append(step_loss)
        # Global L2 norm over every gradient element (padded rows included).
        norm = math.sqrt(sum(float((t.grad.double() ** 2).sum()) for t in plist))
        if s == 0:
            loss0, norm0 = step_loss, norm
            grads0 = flat_f32([t.grad for t in plist])
        if a.grad_clip > 0 and norm > a.grad_clip:
            scale = a.grad_clip / norm                # exact; no +1e-6 term
            for t in plist:
                t.grad.mul_(scale)
        opt.step()

    header = np.array([OUT_MAGIC, B, T, cfg["Vp"], P, N, A, 0], dtype="<i4")
    with open(a.out, "wb") as f:
        f.write(header.tobytes())
        f.write(logits0.astype("<f4").tobytes())
        f.write(np.array([loss0, norm0], dtype="<f4").tobytes())
        f.write(grads0.tobytes())
        f.write(np.array(losses, dtype="<f4").tobytes())
        f.write(flat_f32(plist).tobytes())
    print(f"[{a.dtype}] P={P} gradnorm0={norm0:.6g} losses: "
          + " ".join(f"{l:.6f}" for l in losses))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    m = sub.add_parser("make-model")
    m.add_argument("--layers", type=int, required=True)
    m.add_argument("--dim", type=int, required=True)
    m.add_argument("--heads", type=int, required=True)
    m.add_argument("--seq", type=int, required=True)
    m.add_argument("--vocab", type=int, required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--out", required=True)

    b = sub.add_parser("make-batch")
    b.add_argument("--B", type=int, required=True)
    b.add_argument("--T", type=int, required=True)
    b.add_argument("--n", type=int, required=True)
    b.add_argument("--vocab", type=int, required=True)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", required=True)

    r = sub.add_parser("run")
    r.add_argument("--model", required=True)
    r.add_argument("--batch", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--steps", type=int, default=10)
    r.add_argument("--grad-accum", type=int, default=1)
    r.add_argument("--lr", type=float, default=1e-3)
    r.add_argument("--beta1", type=float, default=0.9)
    r.add_argument("--beta2", type=float, default=0.95)
    r.add_argument("--eps", type=float, default=1e-8)
    r.add_argument("--weight-decay", type=float, default=0.1)
    r.add_argument("--grad-clip", type=float, default=0.0)
    r.add_argument("--dtype", choices=["float64", "float32"], default="float64")

    a = ap.parse_args(argv)
    torch.set_num_threads(1)     # deterministic summation order
    {"make-model": cmd_make_model, "make-batch": cmd_make_batch,
     "run": cmd_run}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
