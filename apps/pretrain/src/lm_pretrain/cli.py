"""`lm-pretrain CONFIG [FLAGS]`: lm-dist's `train` with the shipped cluster configs by name.

CONFIG is `small`, `1b`, `8b` (the TOML files in `lm_pretrain/configs/`) or a path to your
own. Every flag is lm-dist's (`--data.path`, `--parallel.tp`, `--train.steps`, ...).

    torchrun --standalone --nproc-per-node 8 -m lm_pretrain small --data.path /data/train
    lm-pretrain --list
    lm-pretrain --show 8b > my-8b.toml
"""

from __future__ import annotations

import importlib.resources
import sys
from pathlib import Path

from lm_dist.cli import main as lm_dist_main


def shipped_configs() -> dict[str, Path]:
    folder = importlib.resources.files("lm_pretrain") / "configs"
    return {Path(str(p)).stem: Path(str(p)) for p in folder.iterdir() if str(p).endswith(".toml")}


def resolve(config: str) -> Path:
    """A shipped config's name, or a path to a TOML file."""
    shipped = shipped_configs()
    if config in shipped:
        return shipped[config]
    path = Path(config)
    if not path.is_file():
        raise SystemExit(f"lm-pretrain: {config!r} is neither a shipped config "
                         f"({', '.join(sorted(shipped))}) nor a TOML file")
    return path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    if argv[0] == "--list":
        for name, path in sorted(shipped_configs().items()):
            print(f"{name}\t{path}")
        return 0
    if argv[0] == "--show":
        print(resolve(argv[1] if len(argv) > 1 else "").read_text(), end="")
        return 0
    return lm_dist_main(["train", str(resolve(argv[0])), *argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
