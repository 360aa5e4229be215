"""PyTorch side of `cargo xtask bench block` (run by `--compare-pytorch`).

  python3 xtask/py/block.py [--threads N]

One pre-LN GPT decoder block (causal self-attention + GELU MLP, no biases, the block of
../shared/anchors/torch_char_gpt.py) at B=12, T=64, C=128, 4 heads: forward and backward of
sum(block(x)), median of timed repeats after warm-up, the rule of the loam side
(xtask/src/bench_block.rs). Prints one JSON line. Needs: pip install torch numpy
"""
import argparse, json

import torch
import torch.nn as nn
import torch.nn.functional as F
from timing import median_secs

B, T, C, H = 12, 64, 128, 4
BUDGET_S = 2.0


class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.ln1 = nn.LayerNorm(C, bias=False); s.ln2 = nn.LayerNorm(C, bias=False)
        s.qkv = nn.Linear(C, 3 * C, bias=False); s.proj = nn.Linear(C, C, bias=False)
        s.fc = nn.Linear(C, 4 * C, bias=False); s.fc_proj = nn.Linear(4 * C, C, bias=False)

    def forward(s, x):
        q, k, v = s.qkv(s.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + s.proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + s.fc_proj(F.gelu(s.fc(s.ln2(x))))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    blk = Block()
    x = torch.randn(B, T, C, requires_grad=True)

    def step():
        blk.zero_grad(set_to_none=True)
        x.grad = None
        blk(x).sum().backward()

    secs = median_secs(step, BUDGET_S)
    print(json.dumps({"bench": "block", "impl": "pytorch", "case": "pre-LN block B12 T64 C128 H4 fwd+bwd",
                      "ms_per_iter": secs * 1e3, "tokens_per_s": B * T / secs}), flush=True)


if __name__ == "__main__":
    main()
