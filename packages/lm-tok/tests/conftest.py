"""Tokenizers trained in fixtures on small real text (seconds)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# --import-mode=importlib keeps test folders off sys.path; the shared test data module needs it.
sys.path.insert(0, str(Path(__file__).parent))

from lm_tok_testdata import training_texts

from lm_tok import TokenizerConfig, save_tokenizer, train_tokenizer


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory) -> Path:
    cfg = TokenizerConfig(vocab_size=2000, min_frequency=2)
    tok = train_tokenizer(training_texts(), cfg)
    return save_tokenizer(tok, tmp_path_factory.mktemp("tok"), cfg)
