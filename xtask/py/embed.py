"""PyTorch side of `cargo xtask bench embed` (run by `--compare-pytorch`).

  python3 xtask/py/embed.py [--threads N]

all-MiniLM-L6-v2 with sentence-transformers: 512 short sentences, batch 32, float32 on the
CPU. Prints one JSON line `{"bench":"embed","impl":"pytorch","case":…,"sentences_per_s":…}`
with the same sentences, case name and timing rule as the loam side (xtask/src/bench_embed.rs).
The model folder is $LOAM_MINILM_DIR, else loam's cache (`cargo xtask fetch-model
all-MiniLM-L6-v2`). Needs: pip install torch sentence-transformers
"""
import argparse, json, os
from pathlib import Path

import torch
from timing import median_secs
from sentence_transformers import SentenceTransformer

BUDGET_S = 4.0
SENTENCES, BATCH = 512, 32
CASE = "all-MiniLM-L6-v2 512 short, batch 32"

SUBJECTS = ["The customer", "My order", "Our team", "The weather", "This phone", "Your account", "The package", "A refund"]
VERBS = ["arrived late", "needs a password reset", "looks great today", "was charged twice", "cannot sign in",
         "ships to Canada", "broke after a week", "is ready for pickup"]
ENDINGS = ["", " again", " this morning", " as expected", " without notice", " last night", " for the second time",
           " according to support"]


def short_sentences(n):
    return [f"{SUBJECTS[i % 8]} {VERBS[(i // 8) % 8]}{ENDINGS[(i // 64) % 8]}." for i in range(n)]


def model_dir():
    """$LOAM_MINILM_DIR, else the folder loam's fetch-model caches it in."""
    if os.environ.get("LOAM_MINILM_DIR"):
        return Path(os.environ["LOAM_MINILM_DIR"])
    if os.environ.get("LOAM_CACHE_DIR"):
        base = Path(os.environ["LOAM_CACHE_DIR"]) / "models"
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = Path(cache) / "loam" / "models"
    return base / "all-MiniLM-L6-v2"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = SentenceTransformer(str(model_dir()), device="cpu")
    model.max_seq_length = 256
    sentences = short_sentences(SENTENCES)
    with torch.inference_mode():
        secs = median_secs(lambda: model.encode(sentences, batch_size=BATCH, normalize_embeddings=True,
                                                convert_to_numpy=True, show_progress_bar=False), BUDGET_S)
    print(json.dumps({"bench": "embed", "impl": "pytorch", "case": CASE,
                      "sentences_per_s": SENTENCES / secs, "ms_per_iter": secs * 1e3}), flush=True)


if __name__ == "__main__":
    main()
