"""A tiny model directory (lm-tok tokenizer + debug lm-model) built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from lm_model import ModelConfig, Transformer
from lm_model.hf import save_hf
from lm_tok import TokenizerConfig, save_tokenizer, train_tokenizer

# Tiny models run fastest on one thread, and the test machine's 2 cores are shared.
torch.set_num_threads(1)

SHARED = Path(
    os.environ.get("LM_SHARED_DATA") or Path(__file__).resolve().parents[4] / "shared" / "data"
)


def shared_data() -> Path:
    """The shared third-party data: `LM_SHARED_DATA`, else `shared/data` beside the checkout.

    Missing, the tests that need it skip for a developer without the data, but fail under
    `LM_REQUIRE_DATA=1` (CI), so a run without data can never pass vacuously.
    """
    if SHARED.is_dir():
        return SHARED
    message = (
        f"{SHARED} not found: these tests need the shared third-party data (set LM_SHARED_DATA)"
    )
    if os.environ.get("LM_REQUIRE_DATA") == "1":
        pytest.fail(f"{message}; LM_REQUIRE_DATA=1 forbids skipping them", pytrace=False)
    pytest.skip(message)


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
