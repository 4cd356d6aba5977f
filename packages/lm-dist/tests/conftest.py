import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from shards import write_shards

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


@pytest.fixture(scope="session")
def shard_dir(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("data") / "train")


@pytest.fixture(scope="session")
def val_dir(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("data") / "val", num_tokens=4000,
                        num_shards=1, seed=1)


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
