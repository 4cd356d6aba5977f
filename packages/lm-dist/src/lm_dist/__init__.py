"""lm-dist: pretraining of lm-model transformers with FSDP2, tensor and pipeline parallelism."""

from lm_dist.checkpoint import Checkpointer, export, latest_checkpoint, resolve_checkpoint
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
from lm_dist.data import TokenLoader, TokenShards
from lm_dist.launcher import LaunchError, launch
from lm_dist.mesh import Mesh, build_mesh
from lm_dist.metrics import MetricsLogger, RunMetrics, peak_flops, read_metrics
from lm_dist.optim import build_optimizer, build_scheduler, clip_grad_norm_, lr_factor
from lm_dist.parallelize import parallelize
from lm_dist.trainer import TrainResult, train, validation_loss

__all__ = [
    "CheckpointConfig",
    "Checkpointer",
    "DataConfig",
    "LaunchError",
    "Mesh",
    "MetricsConfig",
    "MetricsLogger",
    "ModelSection",
    "OptimizerConfig",
    "ParallelConfig",
    "RunMetrics",
    "ScheduleConfig",
    "TokenLoader",
    "TokenShards",
    "TrainConfig",
    "TrainResult",
    "TrainingConfig",
    "build_mesh",
    "build_optimizer",
    "build_scheduler",
    "clip_grad_norm_",
    "export",
    "latest_checkpoint",
    "launch",
    "lr_factor",
    "parallelize",
    "peak_flops",
    "read_metrics",
    "resolve_checkpoint",
    "train",
    "validation_loss",
]
