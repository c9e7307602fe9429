#!/usr/bin/python3
"""Time training steps of the PyTorch reference model (tests/reference/gpt_ref.py)
at the same shape llmscale bench uses, for bench/run.sh.

GPT-2 124M shape by default: L=12, C=768, NH=12, V=50257 (padded 50304),
maxT = T; random fp32 parameters, random tokens; one step = zero_grad,
forward, backward, AdamW (torch.optim.AdamW, lr 1e-4, betas 0.9/0.95,
weight decay 0.1), exactly the work of one llmscale step.
Prints one line per timed step ("step_ms X") and a summary line:
  torch: median X ms ... tokens/s ... MFU ...
MFU uses the same FLOP count as llmscale (6 N + 12 L C T per token, N
without the position embedding) and the peak given by --peak-gflops.

Run with Debian's interpreter (it has torch): /usr/bin/python3 bench/torch_gpt2.py
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import gpt_ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--steps", type=int, default=5, help="timed steps after one warm-up step")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--peak-gflops", type=float, default=0.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    B, T, L, C = a.batch, a.seq, a.layers, a.dim
    Vp = (a.vocab + 127) // 128 * 128
    cfg = dict(maxT=T, V=a.vocab, L=L, NH=a.heads, C=C, Vp=Vp)
    params = {}
    for name, shape in gpt_ref.param_shapes(T, L, C, Vp).items():
        t = torch.randn(shape) * 0.02 if name in gpt_ref.DECAYED else torch.zeros(shape)
        if name.startswith("ln") and name.endswith("w"):
            t = torch.ones(shape)
        params[name] = torch.nn.Parameter(t)
    opt = torch.optim.AdamW(
        [{"params": [params[n] for n in gpt_ref.PARAM_ORDER if n in gpt_ref.DECAYED], "weight_decay": 0.1},
         {"params": [params[n] for n in gpt_ref.PARAM_ORDER if n not in gpt_ref.DECAYED], "weight_decay": 0.0}],
        lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
    x = torch.randint(0, a.vocab, (B, T))
    y = torch.randint(0, a.vocab, (B, T))
    times = []
    for s in range(-1, a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        _, loss = gpt_ref.forward(params, cfg, x, y)
        loss.backward()
        opt.step()
        ms = (time.perf_counter() - t0) * 1e3
        if s >= 0:
            times.append(ms)
            print(f"step_ms {ms:.1f}", flush=True)
    n_params = sum(p.numel() for p in params.values()) - T * C
    flops_tok = 6.0 * n_params + 12.0 * L * C * T
    med = statistics.median(times)
    tok_s = B * T / (med / 1e3)
    gflops = flops_tok * tok_s / 1e9
    mfu = f"MFU {100.0 * gflops / a.peak_gflops:.1f}%" if a.peak_gflops > 0 else "MFU ?"
    print(f"torch {torch.__version__}, {a.threads} threads: median {med:.1f} ms over {len(times)} steps | "
          f"{tok_s:.0f} tokens/s | {gflops:.1f} GFLOP/s | {mfu}")


if __name__ == "__main__":
    main()
