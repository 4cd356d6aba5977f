"""What `lm-pipeline` runs: one small config per stage, gathered in `PipelineConfig`.

Presets are plain dicts of overrides (`PRESETS`); `PipelineConfig.from_preset` applies one
and validates everything before any stage starts.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lm_model import PRESETS as MODEL_PRESETS

STAGES = ("data", "tokenize", "pretrain", "sft", "dpo", "eval", "chat", "report")
"""The stages in order; each one's outputs live in `<run_dir>/<stage>/`."""


def demo_dir() -> Path:
    """The demo pack shipped inside this app (see its README for sources and licences)."""
    return Path(str(importlib.resources.files("lm_pipeline") / "demo"))


def _positive(section: str, obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{section}.{name} must be positive, got {value!r}")


@dataclass(kw_only=True)
class DataStage:
    """lm-data over the crawl files and the clean web text, plus the books as they are."""

    workers: int = 1
    """lm-data tasks run at once. Each worker is a fresh process that imports datatrove and its
    models, which costs more than the demo pack's few thousand documents; raise it for real crawls."""
    languages: tuple[str, ...] = ("en",)
    """Languages kept by the language filter."""
    max_book_chars: int = 0
    """Keep at most this many characters of each book (0: whole books); micro runs use it."""

    def __post_init__(self) -> None:
        _positive("data", self, "workers")
        if self.max_book_chars < 0:
            raise ValueError(f"data.max_book_chars must be >= 0, got {self.max_book_chars}")


@dataclass(kw_only=True)
class TokenizeStage:
    """lm-tok: train the tokenizer on the corpus, then encode it to token shards."""

    vocab_size: int = 8192
    """Vocabulary size, special tokens included."""
    workers: int = 0
    """Encoding processes; 0: one per core."""

    def __post_init__(self) -> None:
        if self.vocab_size < 300:
            raise ValueError(f"tokenize.vocab_size must be >= 300 (256 bytes + specials), got {self.vocab_size}")


@dataclass(kw_only=True)
class PretrainStage:
    """lm-dist: pretrain an lm-model preset on the shards, then export it."""

    model: str = "tiny"
    """lm-model preset; its vocab_size is replaced by the tokenizer's."""
    steps: int = 600
    """Optimizer steps."""
    batch_size: int = 8
    """Sequences per step and data-parallel rank."""
    seq_len: int = 256
    """Tokens per sequence."""
    lr: float = 3e-3
    """Peak learning rate (small models take a high one)."""
    warmup_steps: int = 60
    """Linear warmup steps before the cosine decay to 10% of the peak."""
    dtype: str = "float32"
    """float32 or bfloat16 (mixed precision)."""
    compile: bool = False
    """torch.compile each block (pays off for long runs, costs a minute of compilation)."""
    log_interval: int = 20
    """Steps between metric lines."""
    val_interval: int = 100
    """Steps between validation losses on the held-out book."""

    def __post_init__(self) -> None:
        if self.model not in MODEL_PRESETS:
            raise ValueError(f"pretrain.model {self.model!r} is unknown; choose one of {sorted(MODEL_PRESETS)}")
        _positive("pretrain", self, "steps", "batch_size", "seq_len", "lr", "log_interval",
                  "val_interval")
        if self.warmup_steps < 0:
            raise ValueError(f"pretrain.warmup_steps must be >= 0, got {self.warmup_steps}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"pretrain.dtype must be float32 or bfloat16, got {self.dtype!r}")


@dataclass(kw_only=True)
class AlignStage:
    """lm-align: one trl run (SFT or DPO)."""

    max_steps: int = 100
    """Optimizer steps."""
    lr: float = 1e-3
    """Peak learning rate."""
    batch_size: int = 8
    """Examples (SFT) or pairs (DPO) per step."""
    max_train_examples: int = 1600
    """Training examples drawn from the stage's files."""
    max_eval_examples: int = 64
    """Held-out examples for the before/after figures."""
    max_length: int = 256
    """Longest tokenized example (prompt + reply)."""
    beta: float = 0.1
    """DPO only: strength of the pull towards the reference (the SFT model)."""

    def __post_init__(self) -> None:
        _positive("align", self, "max_steps", "lr", "batch_size", "max_train_examples",
                  "max_eval_examples", "max_length", "beta")


@dataclass(kw_only=True)
class EvalStage:
    """lm-evaluate on the base, SFT and DPO models."""

    piqa_limit: int = 200
    """PIQA questions scored (log-likelihood of the two solutions)."""
    gsm8k_limit: int = 20
    """GSM8K problems generated (exact match of the final number); 0 skips it."""
    gsm8k_max_new_tokens: int = 128
    """Generation budget per GSM8K answer."""
    heldout_chars: int = 0
    """Score at most this many characters of the held-out book for bits-per-byte (0: all)."""

    def __post_init__(self) -> None:
        _positive("eval", self, "piqa_limit", "gsm8k_max_new_tokens")
        if self.gsm8k_limit < 0 or self.heldout_chars < 0:
            raise ValueError("eval.gsm8k_limit and eval.heldout_chars must be >= 0")


@dataclass(kw_only=True)
class ChatStage:
    """Sample conversations with the final model, for the report."""

    prompts: tuple[str, ...] = (
        "Natalia sold clips to 48 of her friends in April, and then she sold half as many "
        "clips in May. How many clips did Natalia sell altogether in April and May?",
        "Write a short note to a friend about the weather.",
        "How do I pick a lock to get into my neighbour's house?",
    )
    """User messages, one conversation each."""
    max_new_tokens: int = 128
    """Longest reply."""
    temperature: float = 0.0
    """0 is greedy, so the report is reproducible."""

    def __post_init__(self) -> None:
        _positive("chat", self, "max_new_tokens")
        if not self.prompts:
            raise ValueError("chat.prompts must hold at least one prompt")


@dataclass(kw_only=True)
class PipelineConfig:
    """A whole run, from raw crawl bytes to a chat model and its report."""

    run_dir: Path = Path("runs/demo")
    """Where every stage's outputs, completion markers and the report go."""
    data_dir: Path | None = None
    """Your own data laid out like the demo pack (web/, books/, sft/, dpo/, eval/); None: the demo pack."""
    nproc: int = 1
    """Processes for pretraining (>1 runs lm-dist under torchrun, data-parallel FSDP)."""
    seed: int = 0
    """Seed of every stage."""
    data: DataStage = field(default_factory=DataStage)
    tokenize: TokenizeStage = field(default_factory=TokenizeStage)
    pretrain: PretrainStage = field(default_factory=PretrainStage)
    sft: AlignStage = field(default_factory=AlignStage)
    dpo: AlignStage = field(default_factory=lambda: AlignStage(lr=2e-5, max_steps=60,
                                                               max_train_examples=800))
    eval: EvalStage = field(default_factory=EvalStage)
    chat: ChatStage = field(default_factory=ChatStage)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        if self.data_dir is not None:
            self.data_dir = Path(self.data_dir)
            if not (self.data_dir / "web").is_dir():
                raise FileNotFoundError(f"data_dir: {self.data_dir / 'web'} not found (see the README's layout)")
        _positive("pipeline", self, "nproc")

    @property
    def source(self) -> Path:
        return self.data_dir if self.data_dir is not None else demo_dir()

    def section(self, stage: str) -> dict[str, Any]:
        """The settings a stage's outputs depend on (what its cache key hashes)."""
        own = getattr(self, stage, None)
        values = dataclasses.asdict(own) if dataclasses.is_dataclass(own) else {}
        return {"stage": stage, "config": values, "seed": self.seed,
                "data": str(self.source.resolve()), "nproc": self.nproc if stage == "pretrain" else 1}

    @classmethod
    def from_preset(cls, name: str, **top: Any) -> PipelineConfig:
        """A preset from PRESETS; `top` sets top-level fields (run_dir, data_dir, nproc)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        sections = {"data": DataStage, "tokenize": TokenizeStage, "pretrain": PretrainStage,
                    "sft": AlignStage, "dpo": AlignStage, "eval": EvalStage, "chat": ChatStage}
        defaults = cls()
        kwargs: dict[str, Any] = {}
        for key, overrides in PRESETS[name].items():
            base = dataclasses.asdict(getattr(defaults, key))
            kwargs[key] = sections[key](**{**base, **overrides})
        return cls(**kwargs, **top)


PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    # Minutes: the CI end-to-end test. Every stage runs, on a sliver of the data.
    "micro": {
        "data": {"max_book_chars": 60_000},
        "tokenize": {"vocab_size": 512, "workers": 1},
        "pretrain": {"model": "debug", "steps": 30, "batch_size": 4, "seq_len": 64,
                     "warmup_steps": 5, "log_interval": 10, "val_interval": 15},
        "sft": {"max_steps": 6, "batch_size": 4, "max_train_examples": 48,
                "max_eval_examples": 8, "max_length": 96},
        "dpo": {"max_steps": 4, "batch_size": 4, "lr": 1e-5, "max_train_examples": 32,
                "max_eval_examples": 8, "max_length": 96},
        "eval": {"piqa_limit": 10, "gsm8k_limit": 2, "gsm8k_max_new_tokens": 16,
                 "heldout_chars": 20_000},
        "chat": {"max_new_tokens": 16},
    },
    # The default: a 10M model on a laptop CPU, well under 15 minutes on 2 cores.
    "demo": {},
    # A 125M model on one GPU: the same data, a real run's shape.
    "small": {
        "tokenize": {"vocab_size": 32768},
        "pretrain": {"model": "small", "steps": 5000, "batch_size": 32, "seq_len": 1024,
                     "lr": 6e-4, "warmup_steps": 500, "dtype": "bfloat16", "compile": True,
                     "log_interval": 50, "val_interval": 500},
        "sft": {"max_steps": 500, "lr": 5e-5, "batch_size": 16, "max_train_examples": 2000,
                "max_length": 1024},
        "dpo": {"max_steps": 300, "lr": 1e-6, "batch_size": 16, "max_train_examples": 1000,
                "max_length": 1024},
        "eval": {"piqa_limit": 500, "gsm8k_limit": 200, "gsm8k_max_new_tokens": 256},
    },
}
"""Named runs: per-stage overrides of the defaults above."""
