"""A tiny model directory (lm-tok tokenizer + debug lm-model) built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lm_model import ModelConfig, Transformer
from lm_model.hf import save_hf
from lm_tok import TokenizerConfig, save_tokenizer, train_tokenizer

# Tiny models run fastest on one thread, and the test machine's 2 cores are shared.
torch.set_num_threads(1)

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"{DATA} not found: the shared data sit beside the checkout")
    return DATA


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, data_dir) -> Path:
    text = (data_dir / "pretrain" / "tinyshakespeare.txt").read_text()[:100_000]
    cfg = TokenizerConfig(vocab_size=600)
    tok_dir = save_tokenizer(train_tokenizer([text], cfg), tmp_path_factory.mktemp("tok"), cfg)
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_preset("debug", vocab_size=600, max_seq_len=512))
    return save_hf(model, tmp_path_factory.mktemp("model"), tokenizer_dir=tok_dir)
