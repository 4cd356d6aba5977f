"""Vocabulary-size study: train at several sizes, measure each on held-out text.

For each size: bytes per token (compression; higher is better), tokens per
whitespace-separated word (fertility; lower is better) and the share of the vocabulary
that the held-out text uses at all (a size whose tokens go unused wastes embedding rows).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from lm_tok.config import InputError, StudyConfig, TokenizerConfig, check_inputs
from lm_tok.directory import save_tokenizer
from lm_tok.fast import FastEncoder
from lm_tok.sources import SkipLog, iter_texts
from lm_tok.train import train_tokenizer

log = logging.getLogger(__name__)


def _split(cfg: StudyConfig, heldout: bool, skipped: SkipLog) -> Iterator[str]:
    """Training or held-out texts. Without heldout files, every k-th document is held out."""
    if cfg.heldout:
        yield from iter_texts(cfg.heldout if heldout else cfg.inputs, cfg.text_field, skipped,
                              whole_text_files=heldout)
        return
    k = cfg.holdout_every
    for i, text in enumerate(
        iter_texts(cfg.inputs, cfg.text_field, skipped, whole_text_files=False)
    ):
        if (i % k == k - 1) == heldout:
            yield text


def measure(encoder: FastEncoder, texts: Iterator[str], vocab_size: int) -> dict:
    """Compression, fertility and vocabulary use of `encoder` on `texts`."""
    used = np.zeros(vocab_size, dtype=bool)
    n_bytes = n_tokens = n_words = 0
    for text in texts:
        ids = encoder.encode_to_numpy(text)
        used[ids] = True
        n_bytes += len(text.encode("utf-8"))
        n_tokens += len(ids)
        n_words += len(text.split())
    if n_tokens == 0:
        raise InputError("heldout: the held-out split has no text")
    return {
        "bytes_per_token": n_bytes / n_tokens,
        "tokens_per_word": n_tokens / max(n_words, 1),
        "vocab_used": float(used.mean()),
        "heldout_bytes": n_bytes,
        "heldout_tokens": n_tokens,
    }


def table(rows: list[dict]) -> str:
    """The study as a Markdown table."""
    lines = [
        "| vocab size | bytes/token | tokens/word | vocab used | train s |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['vocab_size']} | {r['bytes_per_token']:.3f} | {r['tokens_per_word']:.3f} "
        f"| {100 * r['vocab_used']:.1f}% | {r['train_seconds']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    """bytes/token and vocabulary use against vocabulary size, as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(
            "the study plot needs the 'plot' extra: pip install 'lm-tok[plot]'"
        ) from e
    sizes = [r["vocab_size"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(sizes, [r["bytes_per_token"] for r in rows], "o-", label="bytes/token (held-out)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("vocabulary size")
    ax.set_ylabel("bytes per token")
    ax2 = ax.twinx()
    ax2.plot(
        sizes,
        [100 * r["vocab_used"] for r in rows],
        "s--",
        color="tab:orange",
        label="vocab used (%)",
    )
    ax2.set_ylabel("vocabulary used on held-out (%)")
    fig.legend(loc="lower center", ncols=2, fontsize="small")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_study(cfg: StudyConfig) -> list[dict]:
    """Train one tokenizer per size under cfg.output/tok-<size>, write study.{json,md,png}."""
    check_inputs(cfg.inputs, "inputs")
    if cfg.heldout:
        check_inputs(cfg.heldout, "heldout")
    cfg.output.mkdir(parents=True, exist_ok=True)
    rows, skipped = [], SkipLog()
    for size in cfg.vocab_sizes:
        tcfg = TokenizerConfig(vocab_size=size, min_frequency=cfg.min_frequency, nfc=cfg.nfc)
        t0 = time.perf_counter()
        tok = train_tokenizer(
            _split(cfg, False, skipped), tcfg, max_bytes=cfg.max_bytes, progress=cfg.progress
        )
        seconds = time.perf_counter() - t0
        d = save_tokenizer(tok, cfg.output / f"tok-{size}", tcfg)
        row = {
            "vocab_size": size,
            "trained_vocab_size": tok.get_vocab_size(),
            "train_seconds": seconds,
        }
        row |= measure(FastEncoder.from_dir(d), _split(cfg, True, skipped), tok.get_vocab_size())
        log.info(
            "vocab %d: %.3f bytes/token, %.3f tokens/word",
            size,
            row["bytes_per_token"],
            row["tokens_per_word"],
        )
        rows.append(row)
    if skipped:
        log.warning(skipped.summary())
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    config["inputs"] = [str(p) for p in cfg.inputs]
    config["heldout"] = [str(p) for p in cfg.heldout]
    (cfg.output / "study.json").write_text(
        json.dumps({"config": config, "rows": rows}, indent=2) + "\n"
    )
    (cfg.output / "study.md").write_text(table(rows))
    if cfg.plot:
        plot(rows, cfg.output / "study.png")
    return rows
