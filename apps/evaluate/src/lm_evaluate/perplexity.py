"""Held-out perplexity and bits-per-byte with sliding windows: WikiText-2, or your own
held-out text (the `heldout` task: text files or JSONL of documents)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lm_evaluate.config import InputError
from lm_evaluate.data import field, read_jsonl, read_text
from lm_evaluate.scorer import Scorer, bits_per_byte

_ARTICLE_TITLE = re.compile(r"^ = [^=].* = $")
_JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz")


def wikitext_articles(text: str) -> list[str]:
    """Split WikiText into articles at each top-level ` = Title = ` line (lm-eval's documents)."""
    articles: list[list[str]] = []
    for line in text.split("\n"):
        if _ARTICLE_TITLE.match(line) or not articles:
            articles.append([])
        articles[-1].append(line)
    docs = ["\n".join(lines) for lines in articles]
    return [d for d in docs if d.strip()]


def perplexity(
    scorer: Scorer, documents: list[str], *, stride: int | None = None
) -> dict[str, float]:
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


def heldout_documents(paths: Sequence[Path], *, text_field: str = "text",
                      max_chars: int | None = None, limit: int | None = None) -> list[str]:
    """The documents of `paths` in order: a JSONL file's records' `text_field`, or a text
    file whole; the first `limit` of them, each cut to its first `max_chars` characters."""
    docs: list[str] = []
    for path in map(Path, paths):
        if path.name.endswith(_JSONL_SUFFIXES):
            docs += [field(r, text_field, f"{path}: record {i}")
                     for i, r in enumerate(read_jsonl(path), start=1)]
        else:
            docs.append(read_text(path))
    docs = docs[:limit]
    return [d[:max_chars] for d in docs] if max_chars else docs


def run_heldout(scorer: Scorer, paths: Sequence[Path], *, text_field: str = "text",
                max_chars: int | None = None, limit: int | None = None,
                stride: int | None = None) -> dict[str, Any]:
    """Bits-per-byte (and perplexities) of held-out documents, e.g. a book kept out of training."""
    docs = heldout_documents(paths, text_field=text_field, max_chars=max_chars, limit=limit)
    if not any(docs):
        raise InputError(f"heldout: no text in {[str(p) for p in paths]}")
    metrics = perplexity(scorer, docs, stride=stride)
    return {"task": "heldout", "n": len(docs), "unit": "documents", "metrics": metrics,
            "files": [str(p) for p in paths]}
