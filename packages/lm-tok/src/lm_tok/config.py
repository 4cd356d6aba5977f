"""Config dataclasses of lm-tok's components: one per component, validated on creation.

A bad field raises `ConfigError`, an unusable input file `InputError` (both `ValueError`s naming
the field or file): the CLI turns exactly these into a one-line error, and lets any other
exception (a bug) surface with its traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lm_core import ConfigError, InputError

#: Input suffixes lm-tok reads (a trailing ``.gz`` is allowed on the text and JSONL ones).
TEXT_SUFFIXES = (".txt", ".text", ".md")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
PARQUET_SUFFIXES = (".parquet",)


def input_kind(path: Path) -> Literal["text", "jsonl", "parquet"]:
    """The reader a file needs, from its suffix; InputError names the file otherwise."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if path.name.lower().endswith(PARQUET_SUFFIXES):
        return "parquet"
    known = ", ".join(TEXT_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES)
    raise InputError(f"{path}: unknown input format (expected one of {known}, optionally .gz)")


def check_inputs(paths: tuple[Path, ...], field_name: str) -> None:
    """Fail before any work starts when an input is missing or of an unknown kind."""
    if not paths:
        raise ConfigError(f"{field_name}: at least one input file is needed")
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"{field_name}: input file not found: {p}")
        input_kind(Path(p))


@dataclass(kw_only=True)
class TokenizerConfig:
    """What a byte-level BPE tokenizer is: its size, its merge threshold, its special tokens."""

    vocab_size: int = 32768
    """Final vocabulary size, special tokens and the 256 byte tokens included."""
    min_frequency: int = 2
    """A pair is merged only if it occurs at least this many times in the training text."""
    nfc: bool = False
    """Normalise text to Unicode NFC before splitting (changes the text: decode gives NFC)."""
    extra_special_tokens: tuple[str, ...] = ()
    """Special tokens added after lm-tok's own (bos, eos, pad and the chat-role tokens)."""
    model_max_length: int = 2048
    """Written to tokenizer_config.json for transformers; lm-tok itself never truncates."""

    def __post_init__(self) -> None:
        from lm_tok.chat import SPECIAL_TOKENS

        floor = 256 + len(SPECIAL_TOKENS) + len(self.extra_special_tokens)
        if self.vocab_size <= floor:
            raise ConfigError(
                f"vocab_size: {self.vocab_size} leaves no room for merges (must be > {floor})"
            )
        if self.vocab_size > 2**32 - 1:
            raise ConfigError(f"vocab_size: {self.vocab_size} does not fit uint32 token ids")
        if self.min_frequency < 1:
            raise ConfigError(f"min_frequency: must be >= 1, got {self.min_frequency}")
        if self.model_max_length < 1:
            raise ConfigError(f"model_max_length: must be >= 1, got {self.model_max_length}")
        clash = set(self.extra_special_tokens) & set(SPECIAL_TOKENS)
        if clash or len(set(self.extra_special_tokens)) != len(self.extra_special_tokens):
            raise ConfigError(
                f"extra_special_tokens: duplicates or clashes with built-ins: {sorted(clash)}"
            )
        if any(not t for t in self.extra_special_tokens):
            raise ConfigError("extra_special_tokens: empty token")


@dataclass(kw_only=True)
class TokenizerTrainConfig:
    """`lm-tok train`: stream files into a BPE trainer and save a tokenizer directory."""

    inputs: tuple[Path, ...]
    """Training files: plain text (.txt/.md), JSONL (.jsonl/.json, optionally .gz) or Parquet."""
    output: Path
    """Tokenizer directory to write (tokenizer.json, tokenizer_config.json,
    special_tokens_map.json)."""
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    """The tokenizer to train."""
    text_field: str = "text"
    """Field (JSONL) or column (Parquet) holding the document text."""
    max_bytes: int | None = None
    """Stop reading after this many UTF-8 bytes of training text (None: read everything)."""
    progress: bool = True
    """Show progress bars."""

    def __post_init__(self) -> None:
        self.inputs = tuple(Path(p) for p in self.inputs)
        self.output = Path(self.output)
        if not self.inputs:
            raise ConfigError("inputs: at least one input file is needed")
        if not self.text_field:
            raise ConfigError("text_field: must not be empty")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise ConfigError(f"max_bytes: must be >= 1 or None, got {self.max_bytes}")


@dataclass(kw_only=True)
class EncodeConfig:
    """`lm-tok encode`: documents to token shards, in parallel, with a manifest."""

    tokenizer: Path
    """Tokenizer directory written by `lm-tok train` (or any with a byte-level BPE
    tokenizer.json)."""
    inputs: tuple[Path, ...]
    """Document files: JSONL (one document per line), Parquet (one per row), text (one per file)."""
    output: Path
    """Shard directory to write; must be empty or absent."""
    text_field: str = "text"
    """Field (JSONL) or column (Parquet) holding the document text."""
    workers: int = 0
    """Encoding processes; 0 means one per CPU core."""
    add_bos: bool = True
    """Start every document with <|bos|> (every document always ends with <|eos|>)."""
    backend: Literal["tiktoken", "tokenizers"] = "tiktoken"
    """Encoder: the tiktoken one built from the same merges (fast), or HF tokenizers (reference)."""
    shard_max_tokens: int = 2**27
    """Start a new shard file once one holds this many tokens (at a document boundary)."""
    batch_bytes: int = 1 << 20
    """Input per worker task (a byte range of JSONL, a Parquet row group, a text file), in bytes."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        self.tokenizer, self.output = Path(self.tokenizer), Path(self.output)
        self.inputs = tuple(Path(p) for p in self.inputs)
        if not self.inputs:
            raise ConfigError("inputs: at least one input file is needed")
        if not self.text_field:
            raise ConfigError("text_field: must not be empty")
        if self.workers < 0:
            raise ConfigError(f"workers: must be >= 0 (0 = all cores), got {self.workers}")
        if self.shard_max_tokens < 1:
            raise ConfigError(f"shard_max_tokens: must be >= 1, got {self.shard_max_tokens}")
        if self.batch_bytes < 1:
            raise ConfigError(f"batch_bytes: must be >= 1, got {self.batch_bytes}")

    @property
    def num_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass(kw_only=True)
class StudyConfig:
    """`lm-tok study`: train at several vocabulary sizes, measure each on held-out text."""

    inputs: tuple[Path, ...]
    """Training files (see `lm-tok train`)."""
    output: Path
    """Directory for study.json, study.md, study.png and one tokenizer directory per size."""
    heldout: tuple[Path, ...] = ()
    """Held-out files; if empty, every `holdout_every`-th document of `inputs` is held out."""
    vocab_sizes: tuple[int, ...] = (4096, 8192, 16384, 32768)
    """Vocabulary sizes to compare."""
    holdout_every: int = 10
    """Without `heldout` files, documents i with i % holdout_every == holdout_every - 1 are held
    out."""
    min_frequency: int = 2
    """As in TokenizerConfig."""
    nfc: bool = False
    """As in TokenizerConfig."""
    text_field: str = "text"
    """Field (JSONL) or column (Parquet) holding the document text."""
    max_bytes: int | None = None
    """Cap on training bytes per size (None: everything)."""
    plot: bool = True
    """Write study.png (needs the `plot` extra: pip install 'lm-tok[plot]')."""
    progress: bool = True
    """Show progress bars."""

    def __post_init__(self) -> None:
        self.inputs = tuple(Path(p) for p in self.inputs)
        self.heldout = tuple(Path(p) for p in self.heldout)
        self.output = Path(self.output)
        if not self.inputs:
            raise ConfigError("inputs: at least one input file is needed")
        if not self.vocab_sizes:
            raise ConfigError("vocab_sizes: at least one size is needed")
        if len(set(self.vocab_sizes)) != len(self.vocab_sizes):
            raise ConfigError(f"vocab_sizes: duplicates in {self.vocab_sizes}")
        self.vocab_sizes = tuple(sorted(self.vocab_sizes))
        for v in self.vocab_sizes:  # the same checks as a real tokenizer, before any training
            TokenizerConfig(vocab_size=v, min_frequency=self.min_frequency, nfc=self.nfc)
        if not self.heldout and self.holdout_every < 2:
            raise ConfigError(
                f"holdout_every: must be >= 2 without heldout files, got {self.holdout_every}"
            )


@dataclass(kw_only=True)
class InspectConfig:
    """`lm-tok inspect`: show how a string splits into pre-tokens and tokens."""

    tokenizer: Path
    """Tokenizer directory."""
    text: str
    """The string to show."""
    backend: Literal["tiktoken", "tokenizers"] = "tokenizers"
    """Which encoder to show (both give the same ids)."""

    def __post_init__(self) -> None:
        self.tokenizer = Path(self.tokenizer)


__all__ = ["ConfigError", "EncodeConfig", "InputError", "InspectConfig", "StudyConfig",
           "TokenizerConfig", "TokenizerTrainConfig", "check_inputs", "input_kind"]
