"""PyTorch side of `cargo xtask bench gpt2-train` (run by `--compare-pytorch`).

  python3 xtask/py/gpt2-train.py [--device cuda] [--batch 16] [--seq 1024] [--compile off|on|both]

GPT-2 124M (12 layers, 12 heads, 768 wide, 1024 positions, 50257 tokens, tied head, biases,
tanh GELU: the model loam's `GptConfig::default()` builds) trained on random token ids: one
step is forward, cross-entropy, backward, global-norm clipping at 1.0 and a fused AdamW step
(lr 6e-4, betas 0.9/0.95, weight decay 0.1 on matrices), under bf16 autocast on CUDA (f32
master weights and optimizer state). Attention is `F.scaled_dot_product_attention` with
`is_causal=True` (PyTorch picks its flash kernel). `--warmup` untimed steps (torch.compile
compiles in them), then `--steps` timed steps, each ended by a device synchronization; the
figure is the median step.

MFU = model FLOPs per second ÷ peak. Model FLOPs per token = 6·N + 12·L·T·d (nanoGPT's and
PaLM's count): N the parameters without the position table (the tied head counted once, as
the product it is), and 12·L·T·d the attention score and value products forward and backward,
counted without the causal halving. Peak: 989 TFLOP/s, the H100/H200 SXM dense bf16 figure
of NVIDIA's datasheet (`--peak-tflops` for another GPU).

Prints one JSON line per variant: `{"bench":"gpt2-train","impl":"pytorch","case":…,
"tokens_per_s":…,"ms_per_iter":…,"mfu_percent":…}`. The cases are named as the loam side
names them (xtask/src/bench_gpt2_train.rs), so the table shows the ratios. `--device cpu`
with a small shape (`--n-layer 2 --n-embd 64 --seq 64 --batch 2 --vocab 512`) checks the
script where there is no GPU. Needs: pip install torch
"""
import argparse, json, math, os, statistics, sys, time

import torch
import torch.nn as nn
import torch.nn.functional as F

PEAK_TFLOPS = 989.0


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.c_fc, self.mlp_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, H, T, D]
        x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, d))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab, positions, layers, heads, d):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(positions, d)
        self.h = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02 / math.sqrt(2 * layers) if name.endswith("proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for blk in self.h:
            x = blk(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))


def case_name(a, compiled):
    shape = "gpt2-124M" if (a.n_layer, a.n_embd, a.vocab) == (12, 768, 50257) else f"gpt {a.n_layer}x{a.n_embd} v{a.vocab}"
    precision = "bf16 autocast" if a.device.startswith("cuda") else "f32"
    return f"{shape} train step B{a.batch}xT{a.seq} {precision}" + (", torch.compile" if compiled else "")


def measure(a, compiled):
    torch.manual_seed(1337)
    dev = torch.device(a.device)
    model = Gpt(a.vocab, a.seq, a.n_layer, a.n_head, a.n_embd).to(dev)
    n_params = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=6e-4, betas=(0.9, 0.95), fused=dev.type == "cuda")
    forward = torch.compile(model) if compiled else model
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")
    gen = torch.Generator(device=dev).manual_seed(0)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def step():
        ids = torch.randint(0, a.vocab, (a.batch, a.seq + 1), device=dev, generator=gen)
        with autocast:
            loss = forward(ids[:, :-1], ids[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(a.warmup):
        step()
    sync()
    times = []
    for _ in range(a.steps):
        t = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - t)
    if not math.isfinite(loss.item()):
        sys.exit(f"gpt2-train.py: the loss is {loss.item()}")
    secs = statistics.median(times)
    tokens_per_s = a.batch * a.seq / secs
    flops_per_token = 6 * n_params + 12 * a.n_layer * a.seq * a.n_embd
    record = {
        "bench": "gpt2-train",
        "impl": "pytorch",
        "case": case_name(a, compiled),
        "tokens_per_s": tokens_per_s,
        "ms_per_iter": secs * 1e3,
        "mfu_percent": 100 * flops_per_token * tokens_per_s / (a.peak_tflops * 1e12),
        "peak_mem_gb": torch.cuda.max_memory_allocated(dev) / 1e9 if dev.type == "cuda" else 0.0,
    }
    del model, opt, forward
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    return record


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=1024)
    p.add_argument("--n-layer", type=int, default=12)
    p.add_argument("--n-head", type=int, default=12)
    p.add_argument("--n-embd", type=int, default=768)
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--compile", choices=["off", "on", "both"], default="both")
    p.add_argument("--peak-tflops", type=float, default=PEAK_TFLOPS)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpt2-train.py: no CUDA device is visible to PyTorch (pass --device cpu for a CPU check)")
    if a.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    variants = {"off": [False], "on": [True], "both": [False, True]}[a.compile]
    for compiled in variants:
        print(json.dumps(measure(a, compiled)), flush=True)


if __name__ == "__main__":
    main()
