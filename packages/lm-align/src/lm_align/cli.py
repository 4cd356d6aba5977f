"""`lm-align sft CONFIG.toml [flags]`, `lm-align dpo CONFIG.toml [flags]`: parse, then call main.

    lm-align sft sft.toml
    lm-align sft sft.toml --train.learning-rate 1e-4 --train.max-steps 200
    lm-align dpo dpo.toml --beta 0.2 --loss-type ipo
    accelerate launch --config_file fsdp.yaml -m lm_align.cli sft sft.toml

The TOML keys are the config fields, with [data] and [train] tables (and [train.extra]
for any other trl field); flags override the file. Paths are relative to the working
directory. The resolved config is saved in the output directory.
"""

from __future__ import annotations

import logging
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tyro

from lm_align.config import DPORunConfig, SFTRunConfig, config_from_dict
from lm_align.errors import ConfigError, InputError

COMMANDS: dict[str, type] = {"sft": SFTRunConfig, "dpo": DPORunConfig}


def _runner(command: str) -> Callable[[Any], None]:
    # Imported late: `--help` and config errors should not wait for trl and transformers.
    if command == "sft":
        from lm_align.sft import main as sft_main

        return sft_main
    from lm_align.dpo import main as dpo_main

    return dpo_main


def from_toml(cls: type, path: Path) -> Any:
    """A run config from a TOML file; `ConfigError` (or FileNotFoundError for a missing model
    or data file) names the file and the problem, a syntax error its line, in one line."""
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config: {e}") from None
    except tomllib.TOMLDecodeError as e:  # its message ends "(at line L, column C)"
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    if not isinstance(data.get("data"), dict):
        raise ConfigError(f"{path}: a [data] table with at least `train` is needed")
    try:
        return config_from_dict(cls, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{path}: {e}") from None


def parse(argv: list[str]) -> tuple[str, Any]:
    """The command and its config from a command line; SystemExit on bad flags."""
    if not argv or argv[0] not in COMMANDS:
        print("usage: lm-align {sft,dpo} CONFIG.toml [flags]  (--help per command)", file=sys.stderr)
        raise SystemExit(0 if argv and argv[0] in ("-h", "--help") else 2)
    command, rest = argv[0], argv[1:]
    cls = COMMANDS[command]
    default = None
    if rest and not rest[0].startswith("-"):
        default = from_toml(cls, Path(rest[0]))
        rest = rest[1:]
    cfg = tyro.cli(cls, args=rest, default=default, prog=f"lm-align {command}")
    return command, cfg


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        command, cfg = parse(sys.argv[1:] if argv is None else argv)
        _runner(command)(cfg)
    except (ConfigError, InputError, FileNotFoundError) as e:
        # Only what lm-align reports about its config and inputs: any other exception is a
        # bug (or trl's own error) and keeps its traceback.
        print(f"lm-align: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
