"""Writes metrics_reference.json: ROUGE, Porter stems and BLEU computed by the Python packages
loam's metrics copy (rouge-score 0.1.2, nltk's PorterStemmer, sacrebleu 2.x), on cases drawn
by a seeded generator. Run from this folder:

    pip install rouge-score sacrebleu
    python3 make_metrics_reference.py
"""

import json
import random

import sacrebleu
from nltk.stem import porter
from rouge_score import rouge_scorer, tokenizers

ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]

BASES = """relate generous happy hop motor agree file sky condition rational valence digit
conform radical different vile analog feud sensitive electric hope formal adjust adopt
irritant depend homolog commun activ angular effect bowdler trip form good reviv allow infer
airlin gyroscop defens replac control roll bled sing conflat troubl size tan fall hiss fizz
fail care pony tie cat plaster die lie news inning outing proceed exceed succeed call run
bake cry fly dry study generat hesit nation sensit operat bicycl cook play walk deliver
order refund ship price stock custom thank help shop cheap"""

SUFFIXES = ["", "s", "es", "ed", "ing", "ly", "ness", "ful", "ation", "ational", "izer",
            "ization", "alli", "ousli", "iviti", "biliti", "logi", "fulli", "ies", "ied",
            "eed", "y", "ement", "ability", "ize", "ism", "ous", "ive", "ent", "er", "e", "ll"]

WORDS = ("The the a an of to and is was were shop shopping shopped order orders ordered "
         "delivery delivered delivering refund refunds running runs ran quick quickly "
         "customer customers happy happiness generously 2024 3 15 e-mail it's don't "
         "price prices pricing cheaper cheapest stock stocked").split()
PUNCT = [".", ",", "!", "?", ";", "-", "'", "\"", "(", ")", "&", "$"]

HAN = list("我们的店铺今天上新了三款春季外套价格比去年便宜顾客可以在线下单也可以到门店试穿退货需要保留小票")


def sentence(rng, n):
    out = []
    for _ in range(n):
        w = rng.choice(WORDS)
        if rng.random() < 0.2:
            w = w.upper() if rng.random() < 0.5 else w.capitalize()
        out.append(w)
        if rng.random() < 0.15:
            out.append(rng.choice(PUNCT))
    return " ".join(out)


def text(rng):
    return "\n".join(sentence(rng, rng.randint(0, 12)) for _ in range(rng.randint(1, 3)))


def han_text(rng):
    lines = []
    for _ in range(rng.randint(1, 3)):
        chars = [rng.choice(HAN) for _ in range(rng.randint(1, 15))]
        if rng.random() < 0.5:
            chars.insert(rng.randint(0, len(chars)), " " + rng.choice(WORDS) + " ")
        lines.append("".join(chars) + rng.choice(["。", "！", "，", ""]))
    return "\n".join(lines)


class HanTokenizer(tokenizers.Tokenizer):
    """loam's ROUGE tokenizer: rouge-score's, with each CJK ideograph a token of its own."""

    def __init__(self, stem):
        self._stemmer = porter.PorterStemmer() if stem else None

    def tokenize(self, text):
        tokens, word = [], ""
        for c in text.lower() + " ":
            if ("a" <= c <= "z") or ("0" <= c <= "9"):
                word += c
                continue
            if word:
                tokens.append(self._stemmer.stem(word) if self._stemmer and len(word) > 3 else word)
                word = ""
            if 0x3400 <= ord(c) <= 0x4DBF or 0x4E00 <= ord(c) <= 0x9FFF:
                tokens.append(c)
        return tokens


def rouge_case(target, prediction, stem, tokenizer=None):
    scorer = rouge_scorer.RougeScorer(ROUGE_TYPES, use_stemmer=stem, tokenizer=tokenizer)
    scores = scorer.score(target, prediction)
    return {"target": target, "prediction": prediction, "stem": stem,
            "scores": {k: [v.precision, v.recall, v.fmeasure] for k, v in scores.items()}}


def bleu_fields(score):
    return {"score": score.score, "counts": score.counts, "totals": score.totals,
            "precisions": score.precisions, "bp": score.bp, "sys_len": score.sys_len,
            "ref_len": score.ref_len}


def bleu_segment(rng, tokenize):
    if tokenize == "zh":
        return han_text(rng).replace("\n", "")
    extras = ["3.14", "1,000", "9-5", "&amp;", "&quot;hi&quot;", "<skipped>", "U.S.", "“quoted”",
              "(see p. 4)", "x/y", "e-mail", "end ."]
    s = sentence(rng, rng.randint(0, 14))
    if rng.random() < 0.5:
        s += " " + rng.choice(extras)
    return s


def main():
    rng = random.Random(1337)
    stemmer = porter.PorterStemmer()
    words = sorted({b + s for b in BASES.split() for s in SUFFIXES})
    out = {"porter": [[w, stemmer.stem(w)] for w in words], "rouge": [], "rouge_han": [],
           "bleu_corpus": [], "bleu_sentence": []}
    for i in range(40):
        out["rouge"].append(rouge_case(text(rng), text(rng), stem=i % 2 == 1))
    for i in range(10):
        out["rouge_han"].append(rouge_case(han_text(rng), han_text(rng), i % 2 == 1, HanTokenizer(i % 2 == 1)))
    for i in range(12):
        tokenize = ["13a", "none", "zh"][i % 3]
        n = rng.randint(1, 6)
        hyps = [bleu_segment(rng, tokenize) for _ in range(n)]
        refs = [[bleu_segment(rng, tokenize) for _ in range(n)] for _ in range(rng.randint(1, 3))]
        # A hypothesis that copies a reference, so that high-order n-grams match too.
        hyps[0] = refs[0][0]
        score = sacrebleu.corpus_bleu(hyps, refs, tokenize=tokenize)
        out["bleu_corpus"].append({"tokenize": tokenize, "hyps": hyps, "refs": refs, **bleu_fields(score)})
    for i in range(30):
        tokenize = ["13a", "none", "zh"][i % 3]
        hyp = bleu_segment(rng, tokenize)
        refs = [bleu_segment(rng, tokenize) for _ in range(rng.randint(1, 3))]
        if i % 4 == 0:
            refs[0] = hyp + " " + refs[0]
        score = sacrebleu.sentence_bleu(hyp, refs, tokenize=tokenize)
        out["bleu_sentence"].append({"tokenize": tokenize, "hyp": hyp, "refs": refs, **bleu_fields(score)})
    # Fixed edge cases: empty sides, Unicode that lower-cases to ASCII (KELVIN SIGN, dotted I),
    # accents, tabs, blank lines, Python-only white space (U+001C), entities, numbers.
    edge_rouge = [("", "anything here"), ("some words", ""), ("\u212a is KELVIN, \u0130stanbul", "k is kelvin istanbul"),
                  ("naïve café crème", "naive cafe creme"), ("a\tb\n\n\nc d\n", "c d\na b"),
                  ("Running runners ran; RUNS!", "the runner is running")]
    for i, (t, p) in enumerate(edge_rouge):
        out["rouge"].append(rouge_case(t, p, stem=i % 2 == 0))
    edge_bleu = [("13a", "", ["a reference"]), ("13a", "word", [""]), ("13a", "x\x1cy  z \u3000", ["x y z"]),
                 ("13a", "It costs $1,000.50 (or 9-5).", ["It costs $1,000.50 (or 9 - 5)."]),
                 ("13a", "A &amp; B &lt;tag&gt; &quot;q&quot;", ["A & B <tag> \"q\""]),
                 ("zh", "“你好”，Ａｂｃ世界！", ["“你好” ，Ａｂｃ 世界 ！"]), ("none", "a b c d e", ["a b c d e f", "a b"])]
    for tokenize, hyp, refs in edge_bleu:
        score = sacrebleu.sentence_bleu(hyp, refs, tokenize=tokenize)
        out["bleu_sentence"].append({"tokenize": tokenize, "hyp": hyp, "refs": refs, **bleu_fields(score)})
        score = sacrebleu.corpus_bleu([hyp], [[r] for r in refs], tokenize=tokenize)
        out["bleu_corpus"].append({"tokenize": tokenize, "hyps": [hyp], "refs": [[r] for r in refs], **bleu_fields(score)})
    # The code points sacrebleu's zh tokenizer takes for Chinese, as [first, last] ranges.
    from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh
    ranges = []
    for u in range(0x110000):
        if not 0xD800 <= u <= 0xDFFF and TokenizerZh._is_chinese_char(chr(u)):
            if ranges and ranges[-1][1] == u - 1:
                ranges[-1][1] = u
            else:
                ranges.append([u, u])
    out["zh_chinese_ranges"] = ranges
    with open("metrics_reference.json", "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
