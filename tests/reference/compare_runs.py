"""Compare two llmscale runs: the per-step losses of their metrics.jsonl and
the final parameters of their newest checkpoints (llm.c model files).

    compare_runs.py RUN_A RUN_B [--tol 1e-5] [--lr 1e-3]

Losses: |a - b| <= tol * |b| at every step (the files hold 7 significant
digits). Parameters: for every tensor, the normwise relative error
||a - b|| / ||b|| <= tol (Frobenius norms), and no single element off by more
than 10 tol of the tensor's largest |value|. float32 round-off from a
different summation order (ranks, buckets, tensor-parallel partial sums) is
~1e-7 per step; Adam turns it into slightly larger differences for elements
whose gradient is near zero, which the element-wise bound allows for.
One exception: the key bias (the middle third of each layer's qkvb). Its
gradient is exactly zero in exact arithmetic (q.(k + b) shifts every score of
a query row by the same q.b, which softmax ignores), so in float32 it is pure
round-off noise that Adam normalises into lr-sized steps of either sign; it
cannot affect the loss. It is checked only against Adam's step bound,
|a - b| <= 2 * lr * steps (--lr, --steps), and reported.
Prints one line per check; exit status 1 on any failure."""
import array
import json
import os
import sys

NAMES = ["wte", "wpe", "ln1w", "ln1b", "qkvw", "qkvb", "attprojw", "attprojb",
         "ln2w", "ln2b", "fcw", "fcb", "fcprojw", "fcprojb", "lnfw", "lnfb"]


def latest_model(run):
    step = int(open(run + "/latest").read().split()[0])
    flat = "%s/ckpt_%08d_model.bin" % (run, step)  # the layout before directories
    return flat if os.path.exists(flat) else "%s/ckpt_%08d/model.bin" % (run, step)


def load_model(path):
    raw = open(path, "rb").read()
    hdr = array.array("i")
    hdr.frombytes(raw[:1024])
    maxT, V, L, NH, C, Vp = hdr[2], hdr[3], hdr[4], hdr[5], hdr[6], hdr[7]
    sizes = [Vp * C, maxT * C, L * C, L * C, L * 3 * C * C, L * 3 * C, L * C * C, L * C,
             L * C, L * C, L * 4 * C * C, L * 4 * C, L * C * 4 * C, L * C, C, C]
    flat = array.array("f")
    flat.frombytes(raw[1024:])
    assert len(flat) == sum(sizes), path
    out, off = {}, 0
    for name, n in zip(NAMES, sizes):
        out[name] = flat[off:off + n]
        off += n
    return out


def losses(run):
    return [json.loads(line)["loss"] for line in open(run + "/metrics.jsonl")]


def main():
    a, b = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-5
    ok = True
    la, lb = losses(a), losses(b)
    if len(la) != len(lb) or not la:
        print("FAIL steps: %d vs %d" % (len(la), len(lb)))
        return 1
    worst = max(abs(x - y) / abs(y) for x, y in zip(la, lb))
    print("losses: %d steps, max relative difference %.3g" % (len(la), worst))
    ok &= worst <= tol
    ma, mb = load_model(latest_model(a)), load_model(latest_model(b))
    hdr = array.array("i")
    hdr.frombytes(open(latest_model(b), "rb").read()[:1024])
    L, C = hdr[4], hdr[6]
    is_kbias = [(i % (3 * C)) // C == 1 for i in range(3 * C * L)]
    lr = float(sys.argv[sys.argv.index("--lr") + 1]) if "--lr" in sys.argv else 1e-3
    kb = max(abs(x - y) for x, y, k in zip(ma["qkvb"], mb["qkvb"], is_kbias) if k)
    print("key bias (zero true gradient): max difference %.3g, Adam bound %.3g" % (kb, 2 * lr * len(la)))
    ok &= kb <= 2 * lr * len(la)
    for name in ("qkvb",):
        ma[name] = [x for x, k in zip(ma[name], is_kbias) if not k]
        mb[name] = [x for x, k in zip(mb[name], is_kbias) if not k]
    worst_t, worst_name, worst_e, worst_ename = 0.0, "", 0.0, ""
    for name in NAMES:
        norm = sum(v * v for v in mb[name]) ** 0.5 or 1.0
        err = sum((x - y) ** 2 for x, y in zip(ma[name], mb[name])) ** 0.5 / norm
        if err > worst_t:
            worst_t, worst_name = err, name
        scale = max(abs(v) for v in mb[name]) or 1.0
        e = max(abs(x - y) for x, y in zip(ma[name], mb[name])) / scale
        if e > worst_e:
            worst_e, worst_ename = e, name
    print("params: max per-tensor relative difference %.3g (%s); worst element %.3g of its tensor's "
          "max (%s)" % (worst_t, worst_name, worst_e, worst_ename))
    ok &= worst_t <= tol and worst_e <= 10 * tol
    print("OK" if ok else "FAIL (tolerance %g)" % tol)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
