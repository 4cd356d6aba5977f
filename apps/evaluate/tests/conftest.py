"""A tiny model directory (lm-tok tokenizer + debug lm-model) built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lm_core.testing import shared_data as _shared_data
from lm_core.testing import shared_data_dir
from lm_model import ModelConfig, Transformer
from lm_model.hf import save_hf
from lm_tok import TokenizerConfig, save_tokenizer, train_tokenizer

# Tiny models run fastest on one thread, and the test machine's 2 cores are shared.
torch.set_num_threads(1)

SHARED = shared_data_dir(__file__)


def shared_data() -> Path:
    """The shared third-party data (see `lm_core.testing`): skips, or fails in CI, without it."""
    return _shared_data(__file__)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return shared_data()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, data_dir) -> Path:
    text = (data_dir / "pretrain" / "tinyshakespeare.txt").read_text()[:100_000]
    cfg = TokenizerConfig(vocab_size=600)
    tok_dir = save_tokenizer(train_tokenizer([text], cfg), tmp_path_factory.mktemp("tok"), cfg)
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_preset("debug", vocab_size=600, max_seq_len=512))
    return save_hf(model, tmp_path_factory.mktemp("model"), tokenizer_dir=tok_dir)
