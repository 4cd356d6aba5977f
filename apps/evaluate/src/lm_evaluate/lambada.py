"""LAMBADA (OpenAI's detokenized test set): is the last word the model's greedy continuation?"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lm_evaluate.config import InputError
from lm_evaluate.data import field, read_jsonl
from lm_evaluate.scorer import Scorer


def split_last_word(text: str) -> tuple[str, str]:
    """(context, " " + last word), split at the last space as lm-eval's lambada_openai does."""
    context, _, word = text.rstrip().rpartition(" ")
    if not context or not word:
        raise ValueError(f"text has no space-separated last word: {text[-60:]!r}")
    return context, " " + word


def run_lambada(scorer: Scorer, path: Path, *, limit: int | None = None) -> dict[str, Any]:
    """acc: every token of the last word is the argmax; perplexity: exp(-mean log p(word))."""
    requests = []
    for i, record in enumerate(read_jsonl(path, limit), start=1):
        where = f"{path}: record {i}"
        try:
            context, word = split_last_word(field(record, "text", where))
        except ValueError as e:
            raise InputError(f"{where}: {e}") from e
        requests.append(scorer.encode_pair(context, word))
    scores = scorer.loglikelihood(requests)
    n = len(scores)
    return {"task": "lambada", "n": n, "unit": "passages", "files": [str(path)], "metrics": {
        "acc": sum(greedy for _, greedy in scores) / n,
        "perplexity": math.exp(-sum(lp for lp, _ in scores) / n),
    }}
