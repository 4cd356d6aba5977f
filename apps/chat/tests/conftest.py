"""A tiny chat model built once per session: an lm-tok tokenizer and a debug lm-model that
a few hundred plain torch steps teach two fixed replies (so greedy output is known)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from lm_core.testing import shared_data as _shared_data
from lm_core.testing import shared_data_dir
from lm_model import ModelConfig, Transformer
from lm_model.hf import save_hf
from lm_tok import TokenizerConfig, render_chat, save_tokenizer, train_tokenizer

# Tiny models run fastest on one thread, and the test machine's 2 cores are shared.
torch.set_num_threads(1)

SHARED = shared_data_dir(__file__)


def shared_data() -> Path:
    """The shared third-party data (see `lm_core.testing`): skips, or fails in CI, without it."""
    return _shared_data(__file__)

#: What the trained model answers (greedily) to each prompt.
REPLIES = {"Hi": "Hello there.", "Say something nice": "Très bien! 日本語 🙂"}


@pytest.fixture(scope="session")
def replies() -> dict[str, str]:
    return dict(REPLIES)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    text = (shared_data() / "pretrain" / "tinyshakespeare.txt").read_text()[:100_000]
    cfg = TokenizerConfig(vocab_size=600)
    tok_dir = save_tokenizer(train_tokenizer([text], cfg), tmp_path_factory.mktemp("tok"), cfg)
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    rows = [
        tok.encode(
            render_chat([{"role": "user", "content": q}, {"role": "assistant", "content": a}])
        ).ids
        for q, a in REPLIES.items()
    ]
    width = max(map(len, rows))
    batch = torch.tensor([r + [2] * (width - len(r)) for r in rows])
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_preset("debug", vocab_size=600))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(150):
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, 600), batch[:, 1:].reshape(-1), ignore_index=2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05, (
        f"the fixture model did not learn its replies (loss {loss.item():.3f})"
    )
    return save_hf(model, tmp_path_factory.mktemp("chat-model"), tokenizer_dir=tok_dir)
