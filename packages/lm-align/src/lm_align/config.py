"""Config dataclasses of the two stages, and their translation into trl's configs.

`SFTRunConfig` and `DPORunConfig` hold what a run needs: the input Hugging Face directory,
the output directory, the data (`AlignDataConfig`) and the optimisation (`TrainerConfig`). Any
other `trl.SFTConfig`/`trl.DPOConfig` field goes through `TrainerConfig.extra`, checked
against trl's fields before any work starts. Defaults suit a CPU: bf16 only where the
hardware has it, `use_cpu` without a GPU, no reporting (or wandb offline), no checkpoints.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lm_align.adapters import FORMATS
from lm_align.errors import ConfigError

SFT_LEARNING_RATE = 2e-5
"""The peak learning rate of SFT when the config gives none."""
DPO_LEARNING_RATE = 1e-6
"""DPO's: it moves away from a reference model, and a large step overshoots at once."""

# TrainingArguments fields this package sets itself: `extra` must not override them.
_OWNED = frozenset({
    "output_dir", "use_cpu", "bf16", "fp16", "report_to", "save_strategy", "eval_strategy",
    "assistant_only_loss", "packing", "beta", "loss_type", "max_length", "trust_remote_code",
})


@dataclass(kw_only=True)
class AlignDataConfig:
    """Where the examples come from and how the held-out split is made."""

    train: tuple[Path, ...]
    """Training files (JSONL or JSON array, optionally .gz) in one of the adapter formats."""
    format: str = "auto"
    """Adapter for every file: auto (guessed from the first record) or one of
    lm_align.adapters.FORMATS."""
    eval: tuple[Path, ...] = ()
    """Held-out files; if empty, `eval_fraction` of the training examples is held out."""
    eval_fraction: float = 0.05
    """Share of the (shuffled) training examples held out when no `eval` files are given."""
    max_train_examples: int | None = None
    """Use at most this many training examples after shuffling (None: all)."""
    max_eval_examples: int | None = 256
    """Use at most this many held-out examples (None: all)."""
    seed: int = 0
    """Seed of the shuffle that makes the split."""

    def __post_init__(self) -> None:
        self.train = tuple(Path(p) for p in self.train)
        self.eval = tuple(Path(p) for p in self.eval)
        if not self.train:
            raise ConfigError("data.train: at least one training file is needed")
        for p in (*self.train, *self.eval):
            if not p.is_file():
                raise FileNotFoundError(f"data: file not found: {p}")
        if self.format != "auto" and self.format not in FORMATS:
            raise ConfigError(
                f"data.format: unknown {self.format!r} (known: auto, {', '.join(FORMATS)})"
            )
        if not self.eval and not 0 < self.eval_fraction < 1:
            raise ConfigError(
                "data.eval_fraction: must be in (0, 1) without eval files, "
                f"got {self.eval_fraction}"
            )
        for name in ("max_train_examples", "max_eval_examples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"data.{name}: must be >= 1 or None, got {value}")


@dataclass(kw_only=True)
class TrainerConfig:
    """Optimisation and bookkeeping; the rest of trl's fields go in `extra`."""

    learning_rate: float | None = None
    """Peak AdamW learning rate (None: 2e-5 for SFT, 1e-6 for DPO)."""
    lr_scheduler_type: str = "cosine"
    """transformers scheduler name (linear, cosine, constant_with_warmup, ...)."""
    warmup_steps: float = 0.03
    """Linear warmup: a whole number of steps, or a share of all steps if below 1."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    num_train_epochs: float = 1.0
    """Epochs over the training examples (ignored when max_steps > 0)."""
    max_steps: int = -1
    """Stop after this many optimiser steps (-1: run num_train_epochs)."""
    per_device_train_batch_size: int = 8
    """Sequences (SFT) or pairs (DPO) per device per micro-batch."""
    per_device_eval_batch_size: int = 8
    """Held-out batch size per device."""
    gradient_accumulation_steps: int = 1
    """Micro-batches per optimiser step."""
    max_length: int | None = 1024
    """Truncate each tokenized sequence (prompt + reply) to this many tokens (None: never)."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward: less memory, ~20% slower; worth it only for big models."""
    bf16: bool | None = None
    """bf16 mixed precision; None: on where a CUDA GPU supports it, off otherwise."""
    report_to: Literal["none", "wandb", "tensorboard"] = "none"
    """Metrics sink; wandb runs offline unless WANDB_MODE is set (no account or network needed)."""
    logging_steps: int = 10
    """Log the training metrics every this many steps."""
    eval_steps: int = 0
    """Also evaluate on the held-out split every this many steps (0: only before and after)."""
    save_steps: int = 0
    """Write a resumable checkpoint under OUTPUT/checkpoints every this many steps (0: none)."""
    seed: int = 42
    """Seed of initialisation-free randomness: data order, dropout."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Any other trl SFTConfig/DPOConfig field, by name (checked against trl before the run)."""

    def __post_init__(self) -> None:
        positive = ("learning_rate", "per_device_train_batch_size", "per_device_eval_batch_size",
                    "gradient_accumulation_steps", "logging_steps")
        for name in positive:
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ConfigError(f"train.{name}: must be > 0, got {getattr(self, name)}")
        if self.warmup_steps < 0 or (
            self.warmup_steps >= 1 and self.warmup_steps != int(self.warmup_steps)
        ):
            raise ConfigError(
                "train.warmup_steps: must be a share in [0, 1) or whole steps, "
                f"got {self.warmup_steps}"
            )
        if self.max_steps == 0 or self.max_steps < -1:
            raise ConfigError(f"train.max_steps: must be > 0 or -1, got {self.max_steps}")
        if self.max_steps == -1 and not self.num_train_epochs > 0:
            raise ConfigError(f"train.num_train_epochs: must be > 0, got {self.num_train_epochs}")
        if self.max_length is not None and self.max_length < 8:
            raise ConfigError(f"train.max_length: must be >= 8 or None, got {self.max_length}")
        for name in ("eval_steps", "save_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name}: must be >= 0, got {getattr(self, name)}")
        owned = sorted(set(self.extra) & _OWNED)
        if owned:
            raise ConfigError(
                f"train.extra: {owned} are set by lm-align's own fields, not through extra"
            )


@dataclass(kw_only=True)
class SFTRunConfig:
    """`lm-align sft`: supervised fine-tuning of a Hugging Face directory on chat examples."""

    model: Path
    """Input Hugging Face directory (config.json, model.safetensors, tokenizer with chat
    template)."""
    output: Path
    """Output Hugging Face directory; metrics.json and the resolved config go there too."""
    data: AlignDataConfig
    """Training and held-out examples (an SFT format)."""
    train: TrainerConfig = field(default_factory=TrainerConfig)
    """Optimisation."""
    assistant_only_loss: bool = True
    """Train only on assistant replies and their end-of-turn token (the template's generation
    blocks)."""
    packing: bool = False
    """Pack several examples into each max_length row (best-fit decreasing; no cross-example
    attention needs a flash-attention kernel, so on CPU/SDPA packed examples can see each other)."""

    def __post_init__(self) -> None:
        self.model, self.output = Path(self.model), Path(self.output)
        if self.train.learning_rate is None:
            self.train.learning_rate = SFT_LEARNING_RATE
        _check_format(self.data, "sft")
        if self.packing and self.train.max_length is None:
            raise ConfigError("packing: needs train.max_length (the packed row length)")
        from trl import SFTConfig

        check_extra(self.train.extra, SFTConfig)
        # Last, so that every other field is known good when only the model is missing
        # (lm-pipeline checks a stage's config before an earlier stage writes its model).
        _check_model_dir(self.model, "model")


@dataclass(kw_only=True)
class DPORunConfig:
    """`lm-align dpo`: direct preference optimisation of a Hugging Face directory."""

    model: Path
    """Input Hugging Face directory: the policy's start (usually the SFT output)."""
    output: Path
    """Output Hugging Face directory; metrics.json and the resolved config go there too."""
    data: AlignDataConfig
    """Training and held-out pairs (a preference format)."""
    train: TrainerConfig = field(default_factory=TrainerConfig)
    """Optimisation."""
    ref_model: Path | None = None
    """Reference model directory (None: the same directory as `model`)."""
    beta: float = 0.1
    """Strength of the pull towards the reference model: higher β, smaller departures."""
    loss_type: str = "sigmoid"
    """trl DPO loss: sigmoid (DPO), ipo, hinge, robust, apo_zero, sppo_hard, ..."""

    def __post_init__(self) -> None:
        self.model, self.output = Path(self.model), Path(self.output)
        self.ref_model = Path(self.ref_model) if self.ref_model is not None else None
        if self.train.learning_rate is None:
            self.train.learning_rate = DPO_LEARNING_RATE
        _check_format(self.data, "preference")
        if not self.beta > 0:
            raise ConfigError(f"beta: must be > 0, got {self.beta}")
        known = (
            "sigmoid",
            "hinge",
            "ipo",
            "exo_pair",
            "nca_pair",
            "robust",
            "bco_pair",
            "sppo_hard",
            "aot",
            "aot_unpaired",
            "apo_zero",
            "apo_down",
            "discopop",
            "sft",
            "sigmoid_norm",
        )
        if self.loss_type not in known:
            raise ConfigError(f"loss_type: unknown {self.loss_type!r} (known: {', '.join(known)})")
        from trl import DPOConfig

        check_extra(self.train.extra, DPOConfig)
        _check_model_dir(self.model, "model")  # last, as in SFTRunConfig
        if self.ref_model is not None:
            _check_model_dir(self.ref_model, "ref_model")


def _check_model_dir(path: Path, name: str) -> None:
    for required in ("config.json", "tokenizer.json"):
        if not (path / required).is_file():
            raise FileNotFoundError(
                f"{name}: {path / required} not found (a Hugging Face directory is needed)"
            )
    if not any(path.glob("*.safetensors")):
        raise FileNotFoundError(f"{name}: no *.safetensors weights in {path}")


def _check_format(data: AlignDataConfig, kind: str) -> None:
    if data.format != "auto" and FORMATS[data.format].kind != kind:
        raise ConfigError(
            f"data.format: {data.format!r} holds {FORMATS[data.format].kind} examples, "
            f"this stage needs {kind} examples"
        )


def device_defaults(bf16: bool | None) -> dict[str, Any]:
    """use_cpu without CUDA, bf16 only where the GPU supports it (never asked of a CPU)."""
    import torch

    cuda = torch.cuda.is_available()
    supported = cuda and torch.cuda.is_bf16_supported()
    if bf16 and not supported:
        raise ConfigError("train.bf16: this machine has no GPU with bf16 support")
    return {"use_cpu": not cuda, "bf16": supported if bf16 is None else bf16, "fp16": False}


def trainer_kwargs(train: TrainerConfig, output: Path) -> dict[str, Any]:
    """The TrainingArguments fields both stages share."""
    if train.report_to == "wandb":
        os.environ.setdefault("WANDB_MODE", "offline")  # never an API key or the network by default
    fields = {f.name: getattr(train, f.name) for f in dataclasses.fields(train)
              if f.name not in ("extra", "bf16", "eval_steps", "save_steps")}
    return {
        **fields,
        **device_defaults(train.bf16),
        "output_dir": str(output / "checkpoints"),
        "eval_strategy": "steps" if train.eval_steps else "no",
        "eval_steps": train.eval_steps or None,
        "save_strategy": "steps" if train.save_steps else "no",
        "save_steps": train.save_steps or 500,
        "trust_remote_code": False,
        "dataloader_num_workers": 0,
        **train.extra,
    }


def check_extra(extra: dict[str, Any], trl_config: type) -> None:
    """Unknown `train.extra` keys fail before any work starts."""
    names = {f.name for f in dataclasses.fields(trl_config)}
    unknown = sorted(set(extra) - names)
    if unknown:
        raise ConfigError(f"train.extra: {unknown} are not fields of trl.{trl_config.__name__}")
