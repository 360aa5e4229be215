"""PyTorch side of `cargo xtask bench gpt2-generate` (run by `--compare-pytorch`).

  python3 xtask/py/gpt2-generate.py [--threads N] [--batch B] [--device cpu|cuda]

A GPT-2 124M-shaped model with random weights (Hugging Face transformers), greedy decoding
with the KV cache, batch 1, a 16-token prompt, 128 new tokens, float32 on the CPU (or on the
GPU with --device cuda, each run ended by a device synchronization). Prints one
JSON line `{"bench":"gpt2-generate","impl":"pytorch","case":…,"tokens_per_s":…}` with the same
prompt, case name and timing rule as the loam side (xtask/src/bench_gpt2_generate.rs): one
warm-up, then the median of 3 timed runs. With --batch B, B prompts of 16, 14, 12 and 10
tokens in turn, left-padded with an attention mask, go through one batched `generate`, and the
figure is aggregate tokens per second. Needs: pip install torch transformers
"""
import argparse, json, os, time

import torch
from transformers import GPT2Config, GPT2LMHeadModel

PROMPT, NEW_TOKENS, RUNS = 16, 128, 3
CASE = "gpt2-124M greedy, cache, 16+128"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    model = GPT2LMHeadModel(GPT2Config()).eval().to(dev)
    vocab = model.config.vocab_size
    b = args.batch
    if b == 1:
        ids = torch.tensor([[(i * 3001 + 17) % vocab for i in range(PROMPT)]])
        mask, case = torch.ones_like(ids), CASE
    else:
        rows = [[(i * 3001 + r * 7919 + 17) % vocab for i in range(PROMPT - 2 * (r % 4))] for r in range(b)]
        ids = torch.tensor([[0] * (PROMPT - len(p)) + p for p in rows])
        mask = torch.tensor([[0] * (PROMPT - len(p)) + [1] * len(p) for p in rows])
        case = f"gpt2-124M greedy, cache, batch {b}, 16/14/12/10+128"
    ids, mask = ids.to(dev), mask.to(dev)
    if dev.type == "cuda":
        case += ", cuda"

    def run(n):
        t = time.perf_counter()
        out = model.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                             do_sample=False, num_beams=1, use_cache=True, pad_token_id=0)
        assert out.shape[1] == PROMPT + n
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - t

    with torch.inference_mode():
        run(8)
        secs = sorted(run(NEW_TOKENS) for _ in range(RUNS))[RUNS // 2]
    print(json.dumps({"bench": "gpt2-generate", "impl": "pytorch", "case": case,
                      "tokens_per_s": b * NEW_TOKENS / secs, "ms_per_iter": secs * 1e3 / NEW_TOKENS}), flush=True)


if __name__ == "__main__":
    main()
