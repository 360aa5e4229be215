"""PyTorch side of `cargo xtask bench llama-generate` (run by `--compare-pytorch`).

  python3 xtask/py/llama-generate.py [--threads N]

A Llama at SmolLM2-360M's shape with random weights (Hugging Face transformers'
LlamaForCausalLM), batch 1, a 256-token prompt, on the CPU in float32 and in bfloat16. Per
dtype, two JSON lines with the same case names and timing rule as the loam side
(xtask/src/bench_llama_generate.rs): prompt processing (one forward over the prompt with a
fresh cache and the logits of the last position only, `logits_to_keep=1`, as `generate`'s
first step computes them) and greedy decoding after it (the time of 1 + 32 new tokens less the time of 1),
each the median of 3 timed runs after one warm-up. Needs: pip install torch transformers
"""
import argparse, json, os, time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

PROMPT, NEW_TOKENS, RUNS = 256, 32, 3


def config():
    return LlamaConfig(vocab_size=49152, hidden_size=960, intermediate_size=2560, num_hidden_layers=32,
                       num_attention_heads=15, num_key_value_heads=5, max_position_embeddings=8192,
                       rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True, hidden_act="silu")


def record(case, figures):
    print(json.dumps({"bench": "llama-generate", "impl": "pytorch", "case": case, **figures}), flush=True)


def measure(model, dtype):
    ids = torch.tensor([[(i * 3001 + 17) % 49152 for i in range(PROMPT)]])
    mask = torch.ones_like(ids)

    def prompt_secs():
        t = time.perf_counter()
        model(ids, attention_mask=mask, use_cache=True, logits_to_keep=1)
        return time.perf_counter() - t

    def generate_secs(n):
        t = time.perf_counter()
        out = model.generate(ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                             num_beams=1, use_cache=True, pad_token_id=0)
        assert out.shape[1] == PROMPT + n
        return time.perf_counter() - t

    def median(f):
        return sorted(f() for _ in range(RUNS))[RUNS // 2]

    with torch.inference_mode():
        generate_secs(2)
        prompt = median(prompt_secs)
        one = median(lambda: generate_secs(1))
        many = median(lambda: generate_secs(1 + NEW_TOKENS))
    decode = max(many - one, 1e-9)
    record(f"smollm2-360M {dtype} prompt 256", {"tokens_per_s": PROMPT / prompt, "ms_per_iter": prompt * 1e3})
    record(f"smollm2-360M {dtype} greedy after 256",
           {"tokens_per_s": NEW_TOKENS / decode, "ms_per_iter": decode * 1e3 / NEW_TOKENS})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config()).eval()
    measure(model, "f32")
    measure(model.to(torch.bfloat16), "bf16")


if __name__ == "__main__":
    main()
