"""Configs of `lm-evaluate run` and `lm-evaluate harness`: validated before any work starts.

A bad field raises `ConfigError`, an unusable input file `InputError` (both `ValueError`s
naming the field or file); the CLI reports exactly these (and a missing file) in one line, and
lets any other exception (a bug) keep its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lm_core import ConfigError, InputError

TASKS = ("wikitext", "lambada", "piqa", "mmlu", "gsm8k", "heldout")
#: What `lm-evaluate run` runs unless told otherwise: the tasks whose files have defaults.
DEFAULT_TASKS = ("wikitext", "lambada", "piqa", "mmlu", "gsm8k")

#: Where each task's files live under `--data_dir` (the workspace's shared data by default).
DEFAULT_FILES = {
    "wikitext": "pretrain/wikitext-2-tokenized-valid.txt.gz",
    "lambada": "eval/lambada-openai-test.jsonl.gz",
    "piqa": "eval/piqa-valid.jsonl",
    "piqa_labels": "eval/piqa-valid-labels.lst",
    "mmlu": "eval/mmlu.tar.gz",
    "gsm8k": "eval/gsm8k-test.jsonl",
    "gsm8k_train": "sft/gsm8k-train.jsonl.gz",
}


@dataclass(kw_only=True)
class EvalConfig:
    """Evaluate a model directory on local-file tasks and write results.json + results.md."""

    model: Path
    """Hugging Face model directory with tokenizer files (`save_hf(..., tokenizer_dir=)`)."""
    tasks: tuple[str, ...] = DEFAULT_TASKS
    """Tasks to run: wikitext (bits-per-byte, perplexity), lambada, piqa, mmlu, gsm8k, and
    heldout (bits-per-byte of your own `heldout` files)."""
    data_dir: Path = Path("../shared/data")
    """Folder the default task files are found under."""
    files: dict[str, Path] = field(default_factory=dict)
    """Per-file overrides of DEFAULT_FILES, e.g. {"piqa": Path("my/piqa.jsonl")}; piqa and
    piqa_labels (one 0/1 label per question, in order) are given together or not at all."""
    heldout: tuple[Path, ...] = ()
    """Held-out text for the heldout task: text files (.txt, .txt.gz), each one document, or
    JSONL files of documents (.jsonl, .jsonl.gz, .json.gz; their `heldout_field`)."""
    heldout_field: str = "text"
    """heldout: the field of a JSONL record that holds the document's text."""
    heldout_chars: int | None = None
    """heldout: score only the first N characters of each document (default: all of it)."""
    limit: int | None = None
    """Use only the first N records of each task (for MMLU: of each subject; for wikitext:
    articles)."""
    task_limits: dict[str, int] = field(default_factory=dict)
    """Per-task limits that replace `limit` for those tasks, e.g. {"piqa": 200, "gsm8k": 20}."""
    output: Path | None = None
    """Folder for results.json and results.md (default: print only)."""
    batch_size: int = 16
    """Sequences per forward pass when scoring."""
    max_length: int | None = None
    """Context window for scoring (default: the model's max_seq_len)."""
    stride: int | None = None
    """Perplexity: tokens each sliding window advances (default: half the context window)."""
    mmlu_shots: int = 0
    """MMLU: examples from the subject's dev split put before each question (0-5)."""
    mmlu_subjects: tuple[str, ...] = ()
    """MMLU: only these subjects (file names without the split, e.g. abstract_algebra); default
    all 57."""
    mmlu_split: Literal["test", "val"] = "test"
    """MMLU: the split scored."""
    gsm8k_prompt: Literal["fewshot", "chat"] = "fewshot"
    """GSM8K: a plain few-shot prompt (base models) or the tokenizer's chat template (chat
    models)."""
    gsm8k_shots: int = 5
    """GSM8K: worked examples from the train file before each question in the fewshot prompt."""
    gsm8k_max_new_tokens: int = 256
    """GSM8K: generation budget per question."""
    device: str | None = None
    """torch device (default: cuda if available, else cpu)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights and activations dtype; auto: bfloat16 on CUDA, float32 on CPU."""

    def __post_init__(self) -> None:
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise ConfigError(f"tasks: unknown {unknown} (choose from {list(TASKS)})")
        bad_files = sorted(set(self.files) - set(DEFAULT_FILES))
        if bad_files:
            raise ConfigError(f"files: unknown keys {bad_files} (known: {sorted(DEFAULT_FILES)})")
        if ("piqa" in self.files) != ("piqa_labels" in self.files):
            # The labels pair with the questions line by line: one file of a pair from here and
            # the other from data_dir would score against the wrong answers.
            raise ConfigError("files: give piqa and piqa_labels together (the labels file pairs "
                              "with the questions file line by line)")
        bad_limits = sorted(set(self.task_limits) - set(TASKS))
        if bad_limits:
            raise ConfigError(f"task_limits: unknown tasks {bad_limits} "
                              f"(choose from {list(TASKS)})")
        for task, value in self.task_limits.items():
            if value < 1:
                raise ConfigError(f"task_limits.{task}: must be >= 1, got {value}")
        if "heldout" in self.tasks and not self.heldout:
            raise ConfigError("heldout: the heldout task needs at least one file of held-out text")
        for name in ("limit", "max_length", "stride", "heldout_chars"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name}: must be >= 1, got {value}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size: must be >= 1, got {self.batch_size}")
        if not 0 <= self.mmlu_shots <= 5:
            raise ConfigError(
                "mmlu_shots: must be in 0..5 (the dev split has 5 per subject), "
                f"got {self.mmlu_shots}"
            )
        if self.gsm8k_shots < 0 or self.gsm8k_max_new_tokens < 1:
            raise ConfigError("gsm8k_shots must be >= 0 and gsm8k_max_new_tokens >= 1")

    def limit_of(self, task: str) -> int | None:
        """The record limit of `task`: its `task_limits` entry, else `limit`."""
        return self.task_limits.get(task, self.limit)

    def path(self, key: str) -> Path:
        """The file of `key`: its override, else DEFAULT_FILES under data_dir."""
        return Path(self.files.get(key, self.data_dir / DEFAULT_FILES[key]))

    def check_files(self) -> None:
        """Fail before loading the model if a task's file is missing."""
        needed = {"wikitext": ["wikitext"], "lambada": ["lambada"], "piqa": ["piqa", "piqa_labels"],
                  "mmlu": ["mmlu"], "gsm8k": ["gsm8k"], "heldout": []}
        if self.gsm8k_prompt == "fewshot" and self.gsm8k_shots:
            needed["gsm8k"].append("gsm8k_train")
        if not (self.model / "config.json").is_file():
            raise FileNotFoundError(f"model: {self.model / 'config.json'} not found")
        for task in self.tasks:
            for key in needed[task]:
                if not self.path(key).is_file():
                    raise FileNotFoundError(f"{task}: {self.path(key)} not found "
                                            f"(set --data_dir or --files.{key} PATH)")
        for path in self.heldout if "heldout" in self.tasks else ():
            if not Path(path).is_file():
                raise FileNotFoundError(f"heldout: {path} not found")
        if not (self.model / "generation_config.json").is_file():
            raise FileNotFoundError(f"model: {self.model / 'generation_config.json'} not found "
                                    "(its eos_token_id lists where generation stops)")


@dataclass(kw_only=True)
class HarnessConfig:
    """Run EleutherAI lm-eval tasks (e.g. local YAML tasks) on a model directory."""

    model: Path
    """Hugging Face model directory with tokenizer files."""
    tasks: tuple[str, ...]
    """lm-eval task names, e.g. tasks defined in YAML files under `include_path`."""
    include_path: Path | None = None
    """Folder of extra task YAML files (with local `data_files`)."""
    limit: int | None = None
    """Use only the first N documents of each task."""
    num_fewshot: int | None = None
    """Few-shot examples per prompt (default: the task's own)."""
    batch_size: int = 16
    """Sequences per forward pass when scoring."""
    device: str | None = None
    """torch device (default: cuda if available, else cpu)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights and activations dtype; auto: bfloat16 on CUDA, float32 on CPU."""
    output: Path | None = None
    """Folder for harness-results.json (default: print only)."""

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ConfigError("tasks: give at least one lm-eval task")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit: must be >= 1, got {self.limit}")
        if self.include_path is not None and not self.include_path.is_dir():
            raise FileNotFoundError(f"include_path: {self.include_path} is not a folder")


__all__ = ["DEFAULT_FILES", "TASKS", "ConfigError", "EvalConfig", "HarnessConfig",
           "InputError"]
