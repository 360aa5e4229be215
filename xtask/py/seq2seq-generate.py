"""PyTorch side of `cargo xtask bench seq2seq-generate` (run by `--compare-pytorch`).

  python3 xtask/py/seq2seq-generate.py [--threads N]

A flan-t5-small-shaped T5 with random weights (Hugging Face transformers), a 64-token source,
64 new tokens greedy and with 4 beams, the KV cache on, float32 on the CPU. EOS is banned with
`min_new_tokens` so every step is decoded, as on the loam side. Prints one JSON line per case
`{"bench":"seq2seq-generate","impl":"pytorch","case":…,"tokens_per_s":…}` with the same source,
case names and timing rule as xtask/src/bench_seq2seq_generate.rs: one warm-up, then the
median of 3 timed runs. Needs: pip install torch transformers
"""
import argparse, json, os, time

import torch
from transformers import T5Config, T5ForConditionalGeneration

SOURCE, NEW_TOKENS, RUNS = 64, 64, 3
CASES = [(1, "flan-t5-small greedy, 64+64"), (4, "flan-t5-small beam-4, 64+64")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = T5Config(vocab_size=32128, d_model=512, d_kv=64, d_ff=1024, num_layers=8, num_decoder_layers=8,
                      num_heads=6, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = T5ForConditionalGeneration(config).eval()
    ids = torch.tensor([[(i * 3001 + 17) % config.vocab_size for i in range(SOURCE)]])

    def run(beams, n):
        t = time.perf_counter()
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                             do_sample=False, num_beams=beams, early_stopping=False, use_cache=True)
        assert out.shape[1] == 1 + n, out.shape
        return time.perf_counter() - t

    with torch.inference_mode():
        for beams, case in CASES:
            run(beams, 4)
            secs = sorted(run(beams, NEW_TOKENS) for _ in range(RUNS))[RUNS // 2]
            print(json.dumps({"bench": "seq2seq-generate", "impl": "pytorch", "case": case,
                              "tokens_per_s": NEW_TOKENS / secs, "ms_per_iter": secs * 1e3 / NEW_TOKENS}), flush=True)


if __name__ == "__main__":
    main()
