"""From a `AlignDataConfig` to the training and held-out `datasets.Dataset`s trl consumes."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset

from lm_align.adapters import FORMATS, Example, load_examples
from lm_align.config import AlignDataConfig
from lm_align.errors import ConfigError, InputError

logger = logging.getLogger(__name__)


@dataclass
class Splits:
    """The two splits and what reading the files left behind."""

    train: list[Example]
    eval: list[Example]
    sources: list[dict[str, Any]] = field(default_factory=list)
    """Per file: path, format, records used, examples, skipped count."""
    skipped: list[dict[str, Any]] = field(default_factory=list)
    """Every skipped record: path, line, reason."""

    def datasets(self) -> tuple[Dataset, Dataset]:
        return Dataset.from_list(self.train), Dataset.from_list(self.eval)

    def report(self) -> dict[str, Any]:
        return {"train_examples": len(self.train), "eval_examples": len(self.eval),
                "sources": self.sources, "skipped": len(self.skipped)}


def _read(paths: tuple, fmt: str, kind: str, splits: Splits) -> list[Example]:
    examples: list[Example] = []
    for path in paths:
        loaded = load_examples(path, fmt)
        if FORMATS[loaded.format].kind != kind:
            raise InputError(
                f"{path}: holds {loaded.format} ({FORMATS[loaded.format].kind}) records; "
                f"this stage needs {kind} examples"
            )
        examples.extend(loaded.examples)
        splits.skipped.extend(loaded.skipped)
        splits.sources.append(
            {
                "path": str(path),
                "format": loaded.format,
                "records": loaded.records,
                "examples": len(loaded.examples),
                "skipped": len(loaded.skipped),
            }
        )
    return examples


def load_splits(cfg: AlignDataConfig, kind: str) -> Splits:
    """Read every file through its adapter, shuffle with `cfg.seed`, hold out the eval split.

    `kind` is "sft" or "preference". Without eval files the held-out examples are cut from
    the shuffled training examples before `max_train_examples` applies, so a smaller
    training run keeps the same held-out set.
    """
    splits = Splits(train=[], eval=[])
    train = _read(cfg.train, cfg.format, kind, splits)
    rng = random.Random(cfg.seed)
    rng.shuffle(train)
    if cfg.eval:
        held = _read(cfg.eval, cfg.format, kind, splits)
        rng.shuffle(held)
    else:
        n = max(1, round(len(train) * cfg.eval_fraction))
        if n >= len(train):
            raise ConfigError(f"data.eval_fraction: {len(train)} examples leave none for training")
        held, train = train[:n], train[n:]
    splits.train = train[: cfg.max_train_examples]
    splits.eval = held[: cfg.max_eval_examples]
    logger.info(
        "%d training and %d held-out %s examples", len(splits.train), len(splits.eval), kind
    )
    return splits
