"""Test data for lm-dist: token shard directories in lm-tok's format and small run configs.

A module with a name of its own (not `conftest`): pytest runs every package's tests in one
process, where `from conftest import ...` would get whichever conftest was imported first.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lm_dist.config import (
    CheckpointConfig,
    DataConfig,
    MetricsConfig,
    ModelSection,
    OptimizerConfig,
    ParallelConfig,
    ScheduleConfig,
    TrainConfig,
    TrainingConfig,
)


def write_shards(directory: Path, *, num_tokens: int = 20_000, vocab_size: int = 512,
                 num_shards: int = 2, dtype: str = "uint16", seed: int = 0,
                 eos_id: int = 1) -> Path:
    """Random documents (ids >= 3) separated by eos, split over `num_shards` files."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(3, vocab_size, size=num_tokens).astype(dtype)
    # Learnable structure: every token after an even one repeats it, so the loss falls.
    tokens[1::2] = tokens[0::2][: len(tokens[1::2])]
    doc_ends = rng.choice(num_tokens, size=num_tokens // 200, replace=False)
    tokens[doc_ends] = eos_id
    directory.mkdir(parents=True, exist_ok=True)
    shards = []
    for i, part in enumerate(np.array_split(tokens, num_shards)):
        name = f"shard-{i:05d}.bin"
        part.astype(np.dtype(dtype).newbyteorder("<")).tofile(directory / name)
        shards.append({"path": name, "num_tokens": len(part),
                       "num_documents": int((part == eos_id).sum())})
    manifest = {
        "format": "lm-tok-shards/1", "dtype": dtype, "vocab_size": vocab_size, "bos_id": 0,
        "eos_id": eos_id, "pad_id": 2, "num_tokens": num_tokens,
        "num_documents": sum(s["num_documents"] for s in shards), "shards": shards,
        "tokenizer_sha256": "0" * 64, "sources": ["synthetic"],
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return directory


def make_cfg(run_dir: Path, data_dir: Path, *, steps: int = 3, n_layers: int = 2,
             batch_size: int = 8, parallel: dict | None = None, tie_embeddings: bool = False,
             **sections) -> TrainConfig:
    """A float64 debug-model run on CPU with active clipping, no wandb, no progress bar."""
    metrics = {"wandb_mode": "disabled", "progress": False, "peak_flops": 1e11,
               **sections.pop("metrics", {})}
    # CPU even on a GPU host: these tests fork several ranks that could not share one GPU.
    train = {"steps": steps, "dtype": "float64", "device": "cpu", **sections.pop("train", {})}
    checkpoint = {"interval": 100, **sections.pop("checkpoint", {})}
    data_cfg = {"path": str(data_dir), "seq_len": 32, "batch_size": batch_size,
                **sections.pop("data", {})}
    optim = {"lr": 1e-2, "max_grad_norm": 0.5, **sections.pop("optim", {})}
    assert not sections, sections
    return TrainConfig(
        run_dir=str(run_dir), model=ModelSection(
            preset="debug", overrides={"n_layers": n_layers, "tie_embeddings": tie_embeddings}),
        parallel=ParallelConfig(**(parallel or {})), optim=OptimizerConfig(**optim),
        schedule=ScheduleConfig(warmup_steps=1), data=DataConfig(**data_cfg),
        train=TrainingConfig(**train), checkpoint=CheckpointConfig(**checkpoint),
        metrics=MetricsConfig(**metrics))
