"""Session fixtures: a tokenizer trained with lm-tok on C4, and a tiny lm-model pretrained on
the same text for a short while with a plain torch loop, exported with `save_hf`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# --import-mode=importlib keeps test folders off sys.path; the shared helper module needs it.
sys.path.insert(0, str(Path(__file__).parent))

from align_testdata import DATA, make_tokenizer, pretrain


def pytest_collection_modifyitems(config, items):
    if not DATA.is_dir():  # pragma: no cover - the data lives beside the checkout
        pytest.exit(f"{DATA} not found: the tests need the shared third-party data", returncode=2)


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory) -> Path:
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="session")
def pretrained(tok_dir, tmp_path_factory) -> tuple[Path, dict]:
    """(HF directory, pretraining losses) of a 2-layer, 64-wide model after 200 steps."""
    out = tmp_path_factory.mktemp("pretrained")
    stats = pretrain(tok_dir, out, steps=200, seq_len=128, batch_size=16)
    print(f"\npretraining: loss {stats['first_loss']:.3f} -> {stats['last_loss']:.3f} "
          f"in {stats['seconds']:.1f}s ({stats['params']} parameters)")
    return out, stats
