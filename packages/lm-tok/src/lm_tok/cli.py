"""`lm-tok train | study | encode | inspect`: parse flags (and an optional TOML file), call main.

    lm-tok train --inputs books.jsonl.gz --output tok/ --vocab-size 32768
    lm-tok encode --tokenizer tok/ --inputs docs.jsonl.gz --output shards/ --workers 8
    lm-tok study --inputs books.jsonl.gz --output study/ --vocab-sizes 4096 8192 16384 32768
    lm-tok inspect --tokenizer tok/ --text "In 2024, 1234567 tokens."
    lm-tok train --config train.toml --vocab-size 8192   # flags override the file
"""

from __future__ import annotations

import json
import logging
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import tyro

from lm_tok.config import (
    ConfigError,
    EncodeConfig,
    InputError,
    InspectConfig,
    StudyConfig,
    TrainConfig,
    config_from_dict,
)
from lm_tok.explain import explain
from lm_tok.shards import encode_corpus
from lm_tok.study import run_study, table
from lm_tok.train import main as train_main


def _encode(cfg: EncodeConfig) -> None:
    m = encode_corpus(cfg)
    print(f"{m['num_documents']} documents, {m['num_tokens']} tokens ({m['dtype']}) in {len(m['shards'])} "
          f"shards under {cfg.output}; {m['skipped']} records skipped")
    if not m["num_documents"]:  # an empty corpus is never what was asked for: fail the command
        listed = f" (each listed in {cfg.output / 'skipped.jsonl'})" if m["skipped"] else ""
        raise InputError(f"no documents encoded: {m['skipped']} records skipped{listed}")


def _study(cfg: StudyConfig) -> None:
    print(table(run_study(cfg)), end="")


COMMANDS: dict[str, tuple[type, Callable]] = {
    "train": (TrainConfig, train_main),
    "encode": (EncodeConfig, _encode),
    "study": (StudyConfig, _study),
    "inspect": (InspectConfig, lambda cfg: print(explain(cfg.tokenizer, cfg.text, cfg.backend))),
}


def _from_toml(cls: type, path: Path) -> object:
    """A config from a TOML file; the TOML keys are the dataclass fields, values are coerced to
    their types. Every problem is a one-line `ConfigError` naming the file (and line or field)."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e}") from None
    except tomllib.TOMLDecodeError as e:  # its message ends "(at line L, column C)"
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    try:
        return config_from_dict(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{path}: {e}") from None


def parse(argv: list[str]) -> tuple[object, Callable]:
    """The config and the function of a command line; SystemExit on bad flags."""
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: lm-tok {{{','.join(COMMANDS)}}} [--config FILE.toml] [flags]  (--help per command)",
              file=sys.stderr)
        raise SystemExit(0 if argv and argv[0] in ("-h", "--help") else 2)
    cls, fn = COMMANDS[argv[0]]
    rest = argv[1:]
    default = None
    if "--config" in rest:
        i = rest.index("--config")
        if i + 1 >= len(rest):
            raise ConfigError("--config: needs a TOML file")
        default = _from_toml(cls, Path(rest[i + 1]))
        rest = rest[:i] + rest[i + 2 :]
    cfg = tyro.cli(cls, args=rest, default=default, prog=f"lm-tok {argv[0]}",
                   config=(tyro.conf.OmitArgPrefixes,))
    return cfg, fn


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg, fn = parse(sys.argv[1:] if argv is None else argv)
        fn(cfg)
        if hasattr(cfg, "output"):
            _save_resolved(cfg)
    except (ConfigError, InputError, FileNotFoundError, ImportError) as e:
        # Only the errors lm-tok raises about its config and inputs (and a missing optional
        # extra): any other exception is a bug and keeps its traceback.
        print(f"lm-tok: error: {e}", file=sys.stderr)
        return 2
    return 0


def _save_resolved(cfg: object) -> None:
    """The resolved config next to the outputs, so a run can be repeated exactly."""
    from dataclasses import asdict

    out = Path(cfg.output)
    if out.is_dir():
        data = json.loads(json.dumps(asdict(cfg), default=str))
        (out / f"lm-tok-{type(cfg).__name__.removesuffix('Config').lower()}.json").write_text(
            json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
