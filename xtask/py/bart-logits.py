"""transformers' side of xtask/tests/export_bart.rs: loads an exported folder as
`BartForConditionalGeneration` and the tokenizer with `AutoTokenizer`, as a user would.

  python3 xtask/py/bart-logits.py DIR SOURCE_TEXT MAX_NEW_TOKENS

Prints one JSON line: the source ids (the tokenizer's, `</s>` appended), the greedy ids of
`generate` (the decoder start token included) and the logits `[T, V]` of the decoder on them.
Needs: pip install torch transformers
"""
import json, sys

import torch
from transformers import AutoTokenizer, BartForConditionalGeneration

folder, text, new_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
tok = AutoTokenizer.from_pretrained(folder)
model = BartForConditionalGeneration.from_pretrained(folder).eval()
source = tok(text, return_tensors="pt").input_ids
with torch.no_grad():
    out = model.generate(source, max_new_tokens=new_tokens, num_beams=1, do_sample=False)
    logits = model(input_ids=source, decoder_input_ids=out).logits[0]
print(json.dumps({"source": source[0].tolist(), "greedy": out[0].tolist(), "logits": logits.tolist()}))
