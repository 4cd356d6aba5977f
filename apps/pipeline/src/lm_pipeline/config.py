"""What `lm-pipeline` runs: a few run-wide fields, then one section per package config.

Each stage section holds fields of the package's own config, unchanged: `[pretrain]` is an
lm-dist `TrainConfig`, `[sft]` an lm-align `SFTRunConfig`, ... so any package field can be
set from the pipeline's TOML file or a flag (`--pretrain.train.z_loss 1e-4`,
`--dpo.loss_type ipo`). The fields a stage fills in itself (its inputs and outputs, `OWNED`)
are refused. A section's values are layered:

    package defaults <- DEFAULTS (the pipeline's choices) <- PRESETS[preset] <- file <- flags

and checked against the package's config (`lm_pipeline.pipeline.check`) before any stage runs.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from lm_core import ConfigError
from lm_core.config import from_dict, merge

T = TypeVar("T")

STAGES = ("data", "tokenize", "pretrain", "sft", "dpo", "eval", "chat", "report")
"""The stages in order; each one's outputs live in `<run_dir>/<stage>/`."""

SECTIONS = {"data": ("corpus", "data"), "tokenize": ("tokenizer", "encode"),
            "pretrain": ("pretrain",), "sft": ("sft",), "dpo": ("dpo",), "eval": ("eval",),
            "chat": ("chat",), "report": ()}
"""The config sections each stage's outputs depend on (what its cache key hashes)."""

OWNED: dict[str, dict[str, str]] = {
    "data": {"inputs": "the web/ and books/ files of the demo pack (or data_dir)",
             "input": "the web/ and books/ files of the demo pack (or data_dir)",
             "output.dir": "<run_dir>/data/<run>", "decontam.eval_files": "the eval/ files"},
    "tokenizer": {"inputs": "the data stage's corpus", "output": "<run_dir>/tokenize/tokenizer"},
    "encode": {"tokenizer": "the tokenize stage's tokenizer", "inputs": "the data stage's corpus",
               "output": "<run_dir>/tokenize/shards-{train,val}"},
    "pretrain": {"run_dir": "<run_dir>/pretrain/run", "data.path": "the training shards",
                 "data.val_path": "the held-out shards",
                 "model.overrides.vocab_size": "the tokenizer's vocabulary size"},
    "sft": {"model": "the pretrain stage's hf/", "output": "<run_dir>/sft/hf",
            "data.train": "the sft/ files"},
    "dpo": {"model": "the sft stage's hf/", "output": "<run_dir>/dpo/hf",
            "data.train": "the dpo/ files"},
    "eval": {"model": "each of the base, SFT and DPO models", "output": "<run_dir>/eval",
             "data_dir": "the data's folder", "files": "the eval/ files",
             "heldout": "the data stage's held-out book"},
}
"""Per section, the dotted fields its stage fills in (and from what): setting one is an error."""


def demo_dir() -> Path:
    """The demo pack shipped inside this app (see its README for sources and licences)."""
    return Path(str(importlib.resources.files("lm_pipeline") / "demo"))


@dataclass(kw_only=True)
class CorpusConfig:
    """How the public-domain books join the corpus (the pipeline's own step)."""

    max_book_chars: int = 0
    """Keep at most this many characters of each book (0: whole books); micro runs use it."""

    def __post_init__(self) -> None:
        if self.max_book_chars < 0:
            raise ConfigError(f"corpus.max_book_chars: must be >= 0, got {self.max_book_chars}")


_SECTION_DOC = " fields, unchanged (see `{cmd} --help`); the stage sets {owned}."


@dataclass(kw_only=True)
class PipelineConfig:
    """A whole run, from raw crawl bytes to a chat model and its report."""

    preset: Literal["micro", "demo", "small"] = "demo"
    """Named overrides (PRESETS) under the config file and flags: micro (minutes, CI), demo
    (about 13 minutes on 2 CPU cores), small (a 125M model for one GPU)."""
    run_dir: Path | None = None
    """Where every stage's outputs, completion markers and the report go; None: runs/<preset>."""
    data_dir: Path | None = None
    """Your own data laid out like the demo pack (web/, books/, sft/, dpo/, eval/); None: the
    demo pack."""
    nproc: int = 1
    """Processes for pretraining (>1 runs lm-dist under torchrun, data-parallel FSDP)."""
    seed: int = 0
    """Seed of every stage (the default of each package's seed fields)."""
    redo_from: Literal[STAGES] | None = None  # type: ignore[valid-type]
    """Redo this stage and every later one even if their outputs are up to date."""
    chat_prompts: tuple[str, ...] = (
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
        "clips in May. How many clips did Natalia sell altogether in April and May?",
        "Write a short note to a friend about the weather.",
        "How do I pick a lock to get into my neighbour's house?",
    )
    """User messages of the sample conversations in the report, one conversation each."""
    corpus: dict[str, Any] = field(default_factory=dict)
    """The pipeline's own CorpusConfig fields: how the books join the corpus
    (`--corpus.max_book_chars 60000`)."""
    data: dict[str, Any] = field(default_factory=dict)
    """lm-data CurationConfig fields, unchanged (see `lm-data run --help`), e.g.
    `--data.language.languages '["en"]'`; the stage sets inputs, output.dir, decontam.eval_files."""
    tokenizer: dict[str, Any] = field(default_factory=dict)
    """lm-tok TokenizerTrainConfig fields (see `lm-tok train --help`), e.g.
    `--tokenizer.tokenizer.vocab_size 16384`; the stage sets inputs, output."""
    encode: dict[str, Any] = field(default_factory=dict)
    """lm-tok EncodeConfig fields (see `lm-tok encode --help`); the stage sets tokenizer, inputs,
    output."""
    pretrain: dict[str, Any] = field(default_factory=dict)
    """lm-dist TrainConfig fields (see `lm-dist train --help`), e.g. `--pretrain.train.steps 1000`;
    the stage sets run_dir, data.path, data.val_path, model.overrides.vocab_size."""
    sft: dict[str, Any] = field(default_factory=dict)
    """lm-align SFTRunConfig fields (see `lm-align sft --help`), e.g.
    `--sft.train.learning_rate 5e-4`; the stage sets model, output, data.train."""
    dpo: dict[str, Any] = field(default_factory=dict)
    """lm-align DPORunConfig fields (see `lm-align dpo --help`), e.g. `--dpo.loss_type ipo`; the
    stage sets model, output, data.train."""
    eval: dict[str, Any] = field(default_factory=dict)
    """lm-evaluate EvalConfig fields (see `lm-evaluate run --help`) for the base, SFT and DPO
    models; the stage sets model, output, data_dir, files, heldout."""
    chat: dict[str, Any] = field(default_factory=dict)
    """lm-chat SamplingConfig fields of the sample conversations (temperature, max_new_tokens,
    ...)."""

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"preset: unknown {self.preset!r}; choose one of {sorted(PRESETS)}")
        if self.data_dir is not None and not (Path(self.data_dir) / "web").is_dir():
            raise FileNotFoundError(f"data_dir: {Path(self.data_dir) / 'web'} not found "
                                    "(see the README's layout)")
        if self.nproc < 1:
            raise ConfigError(f"nproc: must be >= 1, got {self.nproc}")
        if not self.chat_prompts:
            raise ConfigError("chat_prompts: give at least one prompt")
        layered = merge(DEFAULTS, PRESETS[self.preset])
        for name in PACKAGE_SECTIONS:
            values = getattr(self, name)
            for dotted, why in OWNED.get(name, {}).items():
                if _lookup(values, dotted):
                    raise ConfigError(f"{name}.{dotted}: set by the pipeline ({why}); "
                                      "remove it from the config")
            setattr(self, name, merge(layered.get(name, {}), values))
        # The pipeline's own section is checked here; the packages' ones by pipeline.check.
        from_dict(CorpusConfig, self.corpus, where="corpus")

    @property
    def books(self) -> CorpusConfig:
        """The `[corpus]` section as its config."""
        return from_dict(CorpusConfig, self.corpus, where="corpus")

    @property
    def source(self) -> Path:
        """The data the run reads: `data_dir`, else the demo pack."""
        return Path(self.data_dir) if self.data_dir is not None else demo_dir()

    @property
    def root(self) -> Path:
        """The run directory (`run_dir`, or runs/<preset> when it is not set)."""
        return Path(self.run_dir) if self.run_dir is not None else Path("runs") / self.preset

    def stage_dir(self, stage: str) -> Path:
        """Where stage `stage` writes its outputs and completion marker."""
        return self.root / stage

    def section(self, stage: str) -> dict[str, Any]:
        """The settings a stage's outputs depend on (what its cache key hashes)."""
        values = {name: getattr(self, name) for name in SECTIONS[stage]}
        if stage == "chat":
            values["chat_prompts"] = list(self.chat_prompts)
        return {"stage": stage, "config": values, "seed": self.seed,
                "data": str(self.source.resolve()),
                "nproc": self.nproc if stage == "pretrain" else 1}


def package_config(cls: type[T], cfg: PipelineConfig, name: str, owned: dict[str, Any], *,
                   seeded: dict[str, Any] | None = None) -> T:
    """The package config of section `name`: `seeded` (the run's seed in the package's seed
    fields) <- the section's values <- the paths the stage owns; errors name the section."""
    values = merge(merge(seeded or {}, getattr(cfg, name)), owned)
    return from_dict(cls, values, where=name)


PACKAGE_SECTIONS = ("corpus", "data", "tokenizer", "encode", "pretrain", "sft", "dpo", "eval",
                    "chat")
"""The sections that hold a config's fields: the packages', and the pipeline's own `corpus`."""


def _lookup(values: dict[str, Any], dotted: str) -> bool:
    """Whether the nested dict `values` sets the dotted field."""
    for key in dotted.split("."):
        if not isinstance(values, dict) or key not in values:
            return False
        values = values[key]
    return True


DEFAULTS: dict[str, Any] = {
    # A 10M model pretrained on a laptop CPU, then SFT and DPO: the demo pack in ~13 minutes.
    "tokenizer": {"tokenizer": {"vocab_size": 8192}},
    "pretrain": {
        "model": {"preset": "tiny"},
        "optim": {"lr": 3e-3},  # small models take a high learning rate
        "schedule": {"warmup_steps": 60},
        "data": {"seq_len": 256, "batch_size": 8},
        "train": {"steps": 600},
        "checkpoint": {"interval": 600, "keep_last": 1},  # one checkpoint, at the end, to export
        "metrics": {"log_interval": 20, "val_interval": 100},
    },
    "sft": {
        "data": {"max_train_examples": 1600, "max_eval_examples": 64},
        "train": {"learning_rate": 1e-3, "max_steps": 100, "warmup_steps": 0.1,
                  "per_device_train_batch_size": 8, "per_device_eval_batch_size": 8,
                  "max_length": 256, "logging_steps": 10},
    },
    "dpo": {
        "data": {"max_train_examples": 800, "max_eval_examples": 64},
        "train": {"learning_rate": 2e-5, "max_steps": 60, "warmup_steps": 0.1,
                  "per_device_train_batch_size": 8, "per_device_eval_batch_size": 8,
                  "max_length": 256, "logging_steps": 6},
    },
    # GSM8K through the chat template, for the SFT and DPO models (the base model skips it).
    "eval": {"tasks": ["heldout", "piqa", "gsm8k"], "gsm8k_prompt": "chat",
             "task_limits": {"piqa": 200, "gsm8k": 20}, "gsm8k_max_new_tokens": 128},
    "chat": {"temperature": 0.0, "max_new_tokens": 128},  # greedy: a reproducible report
}
"""The pipeline's choices where they differ from the packages' defaults (the demo run)."""

PRESETS: dict[str, dict[str, Any]] = {
    # Minutes: the CI end-to-end test. Every stage runs, on a sliver of the data.
    "micro": {
        "corpus": {"max_book_chars": 60_000},
        # No page takes a second on a quiet machine; a loaded CI box must not drop one either,
        # or the e2e test's pinned shard hashes and losses would change with the load.
        "data": {"extract": {"timeout": 30.0}},
        "tokenizer": {"tokenizer": {"vocab_size": 512}},
        "encode": {"workers": 1},
        "pretrain": {"model": {"preset": "debug"}, "train": {"steps": 30},
                     "data": {"batch_size": 4, "seq_len": 64}, "schedule": {"warmup_steps": 5},
                     "checkpoint": {"interval": 30},
                     "metrics": {"log_interval": 10, "val_interval": 15}},
        "sft": {"train": {"max_steps": 6, "per_device_train_batch_size": 4,
                          "per_device_eval_batch_size": 4, "max_length": 96, "logging_steps": 1},
                "data": {"max_train_examples": 48, "max_eval_examples": 8}},
        "dpo": {"train": {"max_steps": 4, "learning_rate": 1e-5, "per_device_train_batch_size": 4,
                          "per_device_eval_batch_size": 4, "max_length": 96, "logging_steps": 1},
                "data": {"max_train_examples": 32, "max_eval_examples": 8}},
        "eval": {"task_limits": {"piqa": 10, "gsm8k": 2}, "gsm8k_max_new_tokens": 16,
                 "heldout_chars": 20_000},
        "chat": {"max_new_tokens": 16},
    },
    # The default: DEFAULTS as they are.
    "demo": {},
    # A 125M model on one GPU: the same data, a real run's shape.
    "small": {
        "tokenizer": {"tokenizer": {"vocab_size": 32768}},
        "pretrain": {"model": {"preset": "small"}, "train": {"steps": 5000, "dtype": "bfloat16",
                                                             "compile": True},
                     "data": {"batch_size": 32, "seq_len": 1024}, "optim": {"lr": 6e-4},
                     "schedule": {"warmup_steps": 500}, "checkpoint": {"interval": 5000},
                     "metrics": {"log_interval": 50, "val_interval": 500}},
        "sft": {"train": {"max_steps": 500, "learning_rate": 5e-5,
                          "per_device_train_batch_size": 16, "per_device_eval_batch_size": 16,
                          "max_length": 1024, "logging_steps": 50},
                "data": {"max_train_examples": 2000}},
        "dpo": {"train": {"max_steps": 300, "learning_rate": 1e-6,
                          "per_device_train_batch_size": 16, "per_device_eval_batch_size": 16,
                          "max_length": 1024, "logging_steps": 30},
                "data": {"max_train_examples": 1000}},
        "eval": {"task_limits": {"piqa": 500, "gsm8k": 200}, "gsm8k_max_new_tokens": 256},
    },
}
"""Named runs: plain override dicts on top of DEFAULTS, in the sections' own field names."""
