"""Held-out perplexity and bits-per-byte with sliding windows (WikiText-2 by default)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from lm_evaluate.data import read_text
from lm_evaluate.scorer import Scorer, bits_per_byte

_ARTICLE_TITLE = re.compile(r"^ = [^=].* = $")


def wikitext_articles(text: str) -> list[str]:
    """Split WikiText into articles at each top-level ` = Title = ` line (lm-eval's documents)."""
    articles: list[list[str]] = []
    for line in text.split("\n"):
        if _ARTICLE_TITLE.match(line) or not articles:
            articles.append([])
        articles[-1].append(line)
    docs = ["\n".join(lines) for lines in articles]
    return [d for d in docs if d.strip()]


def perplexity(scorer: Scorer, documents: list[str], *, stride: int | None = None) -> dict[str, float]:
    """Every document scored after bos, in windows of the scorer's max_length moving by `stride`.

    bits_per_byte = total NLL in nats / (ln 2 · UTF-8 bytes): independent of the tokenizer.
    """
    stride = stride or max(1, scorer.max_length // 2)
    windows, n_tokens = [], 0
    for doc in documents:
        ids = scorer.encode(doc)
        n_tokens += len(ids)
        windows += scorer.rolling_windows(ids, stride)
    nll = -sum(lp for lp, _ in scorer.loglikelihood(windows))
    n_bytes = sum(len(d.encode("utf-8")) for d in documents)
    n_words = sum(len(d.split()) for d in documents)
    return {
        "bits_per_byte": bits_per_byte(nll, n_bytes),
        "byte_perplexity": math.exp(nll / n_bytes),
        "word_perplexity": math.exp(nll / n_words),
        "token_perplexity": math.exp(nll / n_tokens),
        "nll_nats": nll,
        "tokens": n_tokens,
        "bytes": n_bytes,
        "words": n_words,
    }


def run_wikitext(scorer: Scorer, path: Path, *, limit: int | None = None,
                 stride: int | None = None) -> dict[str, Any]:
    articles = wikitext_articles(read_text(path))[:limit]
    metrics = perplexity(scorer, articles, stride=stride)
    return {"task": "wikitext", "n": len(articles), "unit": "articles", "metrics": metrics,
            "files": [str(path)]}
