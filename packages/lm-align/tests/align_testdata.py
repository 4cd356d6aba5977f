"""Shared test material: real data paths, a tokenizer and a briefly pretrained tiny model."""

from __future__ import annotations

import gzip
import json
import math
import time
from pathlib import Path

import torch

from lm_core.testing import shared_data_dir
from lm_model import ModelConfig, Transformer
from lm_model.hf import save_hf
from lm_tok import TokenizerConfig, save_tokenizer, train_tokenizer

DATA = shared_data_dir(__file__)
GSM8K = DATA / "sft" / "gsm8k-train.jsonl.gz"
HH_RLHF = DATA / "dpo" / "hh-rlhf-harmless-base-test.jsonl.gz"
C4 = DATA / "web" / "text" / "c4-en-sample-1000.jsonl.gz"


def pretraining_texts() -> list[str]:
    """C4 documents: modern English web text, the nearest thing here to a pretraining mix."""
    with gzip.open(C4, "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f.read().split("\n") if line.strip()]


def make_tokenizer(directory: Path, vocab_size: int = 2048) -> Path:
    cfg = TokenizerConfig(vocab_size=vocab_size, model_max_length=512)
    return save_tokenizer(train_tokenizer(pretraining_texts(), cfg), directory, cfg)


def pretrain(tok_dir: Path, out_dir: Path, *, steps: int, dim: int = 64, n_layers: int = 2,
             seq_len: int = 256, batch_size: int = 16, lr: float = 3e-3, seed: int = 0) -> dict:
    """A plain torch loop on C4 (bos + doc + eos, packed), then `save_hf`. Returns losses."""
    from lm_tok import load_tokenizer

    tok = load_tokenizer(tok_dir)
    bos, eos = tok.token_to_id("<|bos|>"), tok.token_to_id("<|eos|>")
    ids: list[int] = []
    for enc in tok.encode_batch(pretraining_texts()):
        ids += [bos, *enc.ids, eos]
    data = torch.tensor(ids)
    torch.manual_seed(seed)
    cfg = ModelConfig.from_preset(
        "debug", vocab_size=tok.get_vocab_size(), dim=dim, n_layers=n_layers, max_seq_len=512
    )
    model = Transformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    losses, t0 = [], time.time()
    for step in range(steps):
        for group in opt.param_groups:  # linear warmup, cosine to 10%
            warm = min(1.0, (step + 1) / 20)
            group["lr"] = lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        starts = torch.randint(0, len(data) - seq_len - 1, (batch_size,), generator=g)
        batch = torch.stack([data[s : s + seq_len + 1] for s in starts])
        logits = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    save_hf(model, out_dir, tokenizer_dir=tok_dir)
    return {
        "first_loss": losses[0],
        "last_loss": sum(losses[-10:]) / 10,
        "seconds": time.time() - t0,
        "params": model.num_params(),
    }
