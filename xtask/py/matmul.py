"""PyTorch side of `cargo xtask bench matmul` (run by `--compare-pytorch`).

  python3 xtask/py/matmul.py [--threads N]

Prints one JSON object per line, `{"bench":"matmul","impl":"pytorch","case":…, <figures>}`,
with the same cases, figures and timing rule as the loam side (xtask/src/bench_matmul.rs):
float32, inference mode, median of timed repeats after warm-up. Needs: pip install torch numpy
"""
import argparse, json, os

import torch
from timing import median_secs
import torch.nn.functional as F

BUDGET_S = 1.0  # timed-repeat budget of one case
ROWS, COLS = 4096, 1024  # softmax, layer norm and add inputs
TOKENS, VOCAB = 512, 8192  # cross-entropy logits
F32 = 4


def emit(case, secs, **figures):
    print(json.dumps({"bench": "matmul", "impl": "pytorch", "case": case, **figures,
                      "ms_per_iter": secs * 1e3}), flush=True)


def matmul(case, a_shape, b_shape):
    a, b = torch.randn(a_shape), torch.randn(b_shape)
    batch = 1
    for d in a_shape[:-2]:
        batch *= d
    flops = 2.0 * batch * a_shape[-2] * a_shape[-1] * b_shape[-1]
    secs = median_secs(lambda: a @ b, BUDGET_S)
    emit(case, secs, gflops=flops / secs / 1e9)


def bandwidth(case, nbytes, f):
    secs = median_secs(f, BUDGET_S)
    emit(case, secs, gb_per_s=nbytes / secs / 1e9)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=os.cpu_count())
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with torch.inference_mode():
        for n in (256, 512, 1024, 2048):
            matmul(f"n={n}", [n, n], [n, n])
        matmul("[768,128]x[128,384]", [768, 128], [128, 384])
        matmul("48x[64,32]x[32,64]", [48, 64, 32], [48, 32, 64])

        elems = ROWS * COLS
        x, y = torch.randn(ROWS, COLS), torch.randn(ROWS, COLS)
        w, b = 1.0 + 0.1 * torch.randn(COLS), 0.1 * torch.randn(COLS)
        case = lambda op: f"{op} [{ROWS},{COLS}]"
        bandwidth(case("softmax"), 2 * elems * F32, lambda: torch.softmax(x, -1))
        bandwidth(case("layer_norm"), (2 * elems + 2 * COLS) * F32,
                  lambda: F.layer_norm(x, (COLS,), w, b, 1e-5))
        bandwidth(case("add"), 3 * elems * F32, lambda: x + y)

        logits = torch.randn(TOKENS, VOCAB)
        targets = torch.tensor([(i * 7919) % VOCAB for i in range(TOKENS)], dtype=torch.long)
        ce_bytes = TOKENS * VOCAB * F32 + TOKENS * 8 + F32
        bandwidth(f"cross_entropy [{TOKENS},{VOCAB}]", ce_bytes,
                  lambda: F.cross_entropy(logits, targets, ignore_index=-100))


if __name__ == "__main__":
    main()
