"""Config dataclasses of a pretraining run: one per component, gathered in `TrainConfig`.

A run is described by a TOML file whose tables are the fields of `TrainConfig`
(`[model]`, `[parallel]`, `[optim]`, `[schedule]`, `[data]`, `[train]`, `[checkpoint]`,
`[metrics]`); command-line flags override single fields. The resolved config is written
to `<run_dir>/config.toml` so a run can always be reproduced.

TOML values are coerced to their field's type by pydantic (`compile = "false"` is False,
`steps = "100"` is 100), the model overrides to `ModelConfig`'s; an unknown key, a value of
the wrong type or an invalid one raises `ConfigError` naming `[section].field`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lm_core import ConfigError
from lm_core import config as core_config
from lm_model import PRESETS, ModelConfig

PP_SCHEDULES = ("GPipe", "1F1B", "Interleaved1F1B", "LoopedBFS", "InterleavedZeroBubble",
                "ZBVZeroBubble")
"""Pipeline schedules of `torch.distributed.pipelining` that lm-dist accepts."""
MULTI_STAGE_SCHEDULES = ("Interleaved1F1B", "LoopedBFS", "InterleavedZeroBubble", "ZBVZeroBubble")
"""Schedules that put several (virtual) stages on each pipeline rank."""


def _positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(
                f"{type(obj).__name__}.{name} must be a positive integer, got {value!r}"
            )


@dataclass(kw_only=True)
class ModelSection:
    """Which lm-model shape to train."""

    preset: str = "tiny"
    """Name of an `lm_model.PRESETS` entry."""
    overrides: dict[str, int | float | bool | str] = field(default_factory=dict)
    """ModelConfig fields replacing the preset's (e.g. `vocab_size = 8192`)."""

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(
                f"model.preset {self.preset!r} is unknown; choose one of {sorted(PRESETS)}"
            )
        model = self.build()
        # Keep the coerced values, so the resolved config.toml holds `false`, not "false".
        self.overrides = {k: getattr(model, k) for k in self.overrides}

    def build(self) -> ModelConfig:
        """The preset with the overrides, coerced to ModelConfig's field types (a TOML or flag
        string "false" is False, not a truthy string); an unknown field is a ConfigError."""
        return core_config.from_dict(ModelConfig, {**PRESETS[self.preset], **self.overrides},
                                     where="model.overrides")


@dataclass(kw_only=True)
class ParallelConfig:
    """How the world's ranks are laid out: pp x dp_replicate x dp_shard x tp."""

    dp_replicate: int = 1
    """Replicas of the (sharded) model; >1 with dp_shard>1 is HSDP."""
    dp_shard: int = -1
    """FSDP2 shard group size; -1 takes whatever the other dimensions leave of the world."""
    tp: int = 1
    """Tensor-parallel degree (sequence parallel on the norms, loss parallel on the head)."""
    pp: int = 1
    """Pipeline-parallel degree."""
    pp_schedule: str = "1F1B"
    """One of PP_SCHEDULES; the multi-stage ones hold `stages_per_rank` stages per rank."""
    pp_microbatches: int | None = None
    """Microbatches per step and pipeline; None means one per pipeline stage."""
    stages_per_rank: int = 2
    """Virtual stages per pipeline rank for the multi-stage (interleaved) schedules."""

    def __post_init__(self) -> None:
        _positive(self, "dp_replicate", "tp", "pp", "stages_per_rank")
        if self.dp_shard != -1:
            _positive(self, "dp_shard")
        if self.pp_schedule not in PP_SCHEDULES:
            raise ValueError(f"parallel.pp_schedule {self.pp_schedule!r} is unknown; "
                             f"choose one of {list(PP_SCHEDULES)}")
        if self.pp_microbatches is not None:
            _positive(self, "pp_microbatches")

    def resolved(self, world_size: int) -> ParallelConfig:
        """This layout with dp_shard filled in, checked against the world size."""
        others = self.dp_replicate * self.tp * self.pp
        dp_shard = self.dp_shard
        if dp_shard == -1:
            if world_size % others:
                raise ValueError(
                    f"parallel: dp_replicate*tp*pp = {others} does not divide the world size "
                    f"{world_size}, so dp_shard=-1 cannot be derived")
            dp_shard = world_size // others
        if others * dp_shard != world_size:
            raise ValueError(
                f"parallel: pp*dp_replicate*dp_shard*tp = {self.pp}*{self.dp_replicate}*"
                f"{dp_shard}*{self.tp} = {others * dp_shard} != world size {world_size}")
        return dataclasses.replace(self, dp_shard=dp_shard)

    @property
    def multi_stage(self) -> bool:
        return self.pp_schedule in MULTI_STAGE_SCHEDULES

    @property
    def num_stages(self) -> int:
        return self.pp * (self.stages_per_rank if self.multi_stage else 1)

    @property
    def microbatches(self) -> int:
        return self.pp_microbatches or self.pp

    @property
    def dp(self) -> int:
        """Data-parallel degree (ranks that see different data); needs dp_shard resolved."""
        return self.dp_replicate * self.dp_shard


@dataclass(kw_only=True)
class OptimizerConfig:
    """AdamW and gradient clipping."""

    lr: float = 3e-4
    """Peak learning rate, reached at the end of warmup."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW's beta1 and beta2."""
    eps: float = 1e-8
    """AdamW's epsilon."""
    weight_decay: float = 0.1
    """Decoupled weight decay of the matrices; norms and embeddings get none."""
    implementation: Literal["auto", "fused", "foreach", "for-loop"] = "auto"
    """auto: fused on CUDA, foreach elsewhere."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clip over every shard and stage; 0 turns clipping off."""

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        for name in ("lr", "eps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"optim.{name} must be positive, got {getattr(self, name)!r}")
        if not all(0 <= b < 1 for b in self.betas) or len(self.betas) != 2:
            raise ValueError(f"optim.betas must be two numbers in [0, 1), got {self.betas!r}")
        for name in ("weight_decay", "max_grad_norm"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"optim.{name} must be >= 0, got {getattr(self, name)!r}")


@dataclass(kw_only=True)
class ScheduleConfig:
    """Linear warmup, then cosine decay to a floor."""

    warmup_steps: int = 2000
    """Steps of linear warmup; the LR reaches its peak at this step."""
    decay: Literal["cosine", "linear", "constant"] = "cosine"
    """Shape of the decay from the peak to the floor over the remaining steps."""
    min_lr_ratio: float = 0.1
    """The floor as a fraction of the peak LR."""

    def __post_init__(self) -> None:
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"schedule.warmup_steps must be >= 0, got {self.warmup_steps!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"schedule.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio!r}")


@dataclass(kw_only=True)
class DataConfig:
    """Token shards (the lm-tok format) and how they become batches."""

    path: str = ""
    """Directory with the training shards and their manifest.json."""
    val_path: str | None = None
    """Directory with held-out shards for validation loss; None: no validation."""
    seq_len: int = 512
    """Tokens per training sequence (the model sees seq_len inputs and seq_len targets)."""
    batch_size: int = 8
    """Sequences per data-parallel rank per micro-step (global batch = this x dp x grad_accum)."""
    seed: int = 0
    """Seed of the sequence order; the same seed gives the same batches in every layout."""
    check_token_ids: bool = True
    """Check that no token id falls outside the model's vocabulary before training: the
    manifest's `max_token_id` (lm-tok records it), else one scan shared by all ranks."""

    def __post_init__(self) -> None:
        _positive(self, "seq_len", "batch_size")


@dataclass(kw_only=True)
class TrainingConfig:
    """The loop itself."""

    steps: int = 1000
    """Optimizer steps to train for."""
    grad_accum: int = 1
    """Micro-steps whose gradients are summed before each optimizer step."""
    dtype: Literal["float32", "bfloat16", "float64"] = "float32"
    """Compute dtype: bfloat16 is mixed precision (fp32 master weights and reductions)."""
    z_loss: float = 0.0
    """Weight of the z-loss (mean squared log-partition) that keeps logits small; 0 is off."""
    activation_checkpoint: Literal["none", "full"] = "none"
    """Recompute each block's activations in backward ("full") to save memory."""
    compile: bool = False
    """torch.compile each transformer block."""
    seed: int = 0
    """Seed of the weight init (independent of the parallel layout)."""
    max_bad_steps: int = 5
    """Consecutive non-finite steps (skipped) after which the run stops."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto: CUDA (with nccl) when available, else CPU (with gloo)."""

    def __post_init__(self) -> None:
        _positive(self, "steps", "grad_accum", "max_bad_steps")
        if not self.z_loss >= 0:
            raise ValueError(f"train.z_loss must be >= 0, got {self.z_loss!r}")


@dataclass(kw_only=True)
class CheckpointConfig:
    """DCP checkpoints under `<run_dir>/checkpoints`."""

    enabled: bool = True
    """Write checkpoints at all."""
    interval: int = 500
    """Save every this many steps (and always at the end)."""
    keep_last: int = 3
    """Committed checkpoints kept; older ones are deleted; 0 keeps all."""
    resume: bool = True
    """Continue from the latest committed checkpoint of the run directory if there is one."""
    load_from: str | None = None
    """A checkpoint to start from when the run directory has none (weights, optimizer, step)."""
    async_save: bool = False
    """Write checkpoints in the background (DCP `async_save`): the step waits only while the
    state is copied to host memory. A checkpoint is committed once its write has finished, at
    the next save or at the end of the run; a crash loses the one still being written."""

    def __post_init__(self) -> None:
        _positive(self, "interval")
        if not isinstance(self.keep_last, int) or self.keep_last < 0:
            raise ValueError(f"checkpoint.keep_last must be >= 0, got {self.keep_last!r}")


@dataclass(kw_only=True)
class MetricsConfig:
    """What rank 0 reports, and where."""

    log_interval: int = 10
    """Log training metrics every this many steps (and at the last step)."""
    val_interval: int = 0
    """Compute validation loss every this many steps; 0: only at the end (if data.val_path)."""
    val_batches: int = 8
    """Batches of the validation shards averaged per validation."""
    wandb_mode: Literal["offline", "online", "disabled"] = "offline"
    """wandb mode: offline (default) writes under the run dir and needs no account."""
    wandb_project: str = "lm-dist"
    """wandb project name."""
    tensorboard: bool = False
    """Also write TensorBoard event files (needs the `lm-dist[tensorboard]` extra)."""
    progress: bool = True
    """Show a progress bar on rank 0."""
    peak_flops: float | None = None
    """Peak FLOP/s of one device for MFU; None: known-GPU table, or measured on CPU."""

    def __post_init__(self) -> None:
        _positive(self, "log_interval", "val_batches")
        if self.val_interval < 0:
            raise ValueError(f"metrics.val_interval must be >= 0, got {self.val_interval!r}")
        if self.peak_flops is not None and not (
            self.peak_flops > 0 and math.isfinite(self.peak_flops)
        ):
            raise ValueError(f"metrics.peak_flops must be positive, got {self.peak_flops!r}")


@dataclass(kw_only=True)
class TrainConfig:
    """A whole pretraining run."""

    run_dir: str = "runs/default"
    """Where the resolved config, metrics.jsonl, checkpoints and wandb files go."""
    model: ModelSection = field(default_factory=ModelSection)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    optim: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainingConfig = field(default_factory=TrainingConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    def __post_init__(self) -> None:
        model = self.model.build()
        if self.data.seq_len > model.max_seq_len:
            raise ValueError(f"data.seq_len {self.data.seq_len} exceeds the model's max_seq_len "
                             f"{model.max_seq_len}")
        if self.parallel.pp > 1 and model.tie_embeddings:
            raise ValueError("parallel.pp > 1 cannot split tied embeddings across stages; "
                             "set model.overrides.tie_embeddings = false")
        if self.parallel.num_stages > model.n_layers:
            raise ValueError(f"parallel: {self.parallel.num_stages} pipeline stages need at least "
                             f"as many layers, the model has {model.n_layers}")
        if self.parallel.pp > 1 and self.data.batch_size % self.parallel.microbatches:
            raise ValueError(f"data.batch_size {self.data.batch_size} must be divisible by "
                             f"parallel.pp_microbatches {self.parallel.microbatches}")

    def to_dict(self) -> dict[str, Any]:
        """Nested dicts that TOML can hold (tuples as lists, None left out)."""
        return core_config.to_dict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from nested dicts (a TOML file), rejecting unknown tables and keys by name."""
        return core_config.from_dict(cls, values)

    @classmethod
    def from_toml(cls, path: str | Path) -> TrainConfig:
        return core_config.load(cls, path)

    def to_toml(self) -> str:
        return core_config.to_toml(self)


@dataclass(kw_only=True)
class ExportConfig:
    """`lm-dist export`: a committed checkpoint as a Hugging Face directory."""

    checkpoint: Path
    """A step-N folder, a checkpoints folder or a run directory (its latest committed one)."""
    output: Path
    """The Hugging Face directory to write (config.json, model.safetensors)."""
    tokenizer_dir: Path | None = None
    """Copy this directory's tokenizer files in (None: a directory without a tokenizer)."""
    dtype: Literal["float32", "bfloat16"] | None = None
    """Cast the weights to this dtype (None: as trained)."""


__all__ = [
    "CheckpointConfig", "ConfigError", "DataConfig", "ExportConfig", "MetricsConfig",
    "ModelSection", "OptimizerConfig",
    "ParallelConfig", "ScheduleConfig", "TrainConfig", "TrainingConfig",
]
