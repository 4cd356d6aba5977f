"""`lm-pretrain train small|1b|8b|CONFIG.toml [--section.field VALUE ...]`: lm-dist's `train`
with the shipped cluster configs reachable by name; `list` and `show` print them.

Every flag is lm-dist's (`--data.path`, `--parallel.tp`, `--train.steps`, ...).

    torchrun --standalone --nproc-per-node 8 -m lm_pretrain train small --data.path /data/train
    lm-pretrain list
    lm-pretrain show 8b --parallel.tp 8 > my-8b.toml     # the resolved config, flags applied
"""

from __future__ import annotations

import importlib.resources
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lm_core.cli import Command
from lm_core.cli import main as cli_main
from lm_core.config import to_toml
from lm_dist.cli import COMMANDS as LM_DIST_COMMANDS
from lm_dist.config import TrainConfig


def shipped_configs() -> dict[str, Path]:
    folder = importlib.resources.files("lm_pretrain") / "configs"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".toml")}


def resolve(config: str) -> Path:
    """A shipped config's name (`small`, `1b`, `8b`), or a path to a TOML file, as given."""
    return shipped_configs().get(config, Path(config))


@dataclass(kw_only=True)
class ListConfig:
    """`lm-pretrain list`: takes no fields."""


def _list(cfg: ListConfig) -> None:
    for name, path in sorted(shipped_configs().items()):
        print(f"{name}\t{path}")


def _show(cfg: TrainConfig) -> None:
    print(to_toml(cfg), end="")


COMMANDS: dict[str, Command] = {
    "train": Command(TrainConfig, LM_DIST_COMMANDS["train"].run,
                     "lm-dist train with a shipped config (small, 1b, 8b) or a TOML file"),
    "list": Command(ListConfig, _list, "the shipped configs and where they are"),
    "show": Command(TrainConfig, _show, "print a config as TOML, flags applied (to copy and edit)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 and args[0] in ("train", "show") and not args[1].startswith("-"):
        args[1] = str(resolve(args[1]))
    return cli_main("lm-pretrain", COMMANDS, args)


if __name__ == "__main__":
    sys.exit(main())
