"""`lm-dist train CONFIG [--section.field VALUE ...]` and `lm-dist export CKPT OUT`.

The CLI only parses: TOML into `TrainConfig`, flags (through tyro) on top, then calls
`train` or `export`. Launch several processes with torchrun:

    torchrun --nproc-per-node 4 -m lm_dist train run.toml --parallel.tp 2
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import sys

import torch
import tyro

from lm_dist.checkpoint import export
from lm_dist.config import TrainConfig
from lm_dist.trainer import train

USAGE = """usage: lm-dist train CONFIG.toml [--section.field VALUE ...]
       lm-dist export CHECKPOINT OUT_DIR [--tokenizer-dir DIR] [--dtype float32|bfloat16]

train   pretrain as CONFIG describes (flags override it; `lm-dist train CONFIG --help` lists them)
export  write a committed checkpoint (or a run directory's latest) as a Hugging Face directory
"""


def _configure_logging() -> None:
    rank = int(os.environ.get("RANK", "0"))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s [rank{rank}] %(name)s: %(message)s")


def parse_train(argv: list[str]) -> TrainConfig:
    if not argv or argv[0].startswith("-"):
        raise SystemExit("lm-dist train: give the config file first: lm-dist train CONFIG.toml")
    try:
        base = TrainConfig.from_toml(argv[0])
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"lm-dist train: {e}") from e
    return tyro.cli(TrainConfig, default=base, args=argv[1:],
                    prog=f"lm-dist train {argv[0]}", description="Flags override the config file.")


def parse_export(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lm-dist export")
    parser.add_argument("checkpoint", help="a step-N folder, a checkpoints folder or a run dir")
    parser.add_argument("out", help="the Hugging Face directory to write")
    parser.add_argument("--tokenizer-dir", default=None, help="copy these tokenizer files in")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default=None,
                        help="cast the weights (default: as trained)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    _configure_logging()
    if command == "train":
        result = train(parse_train(rest))
        if result.losses:
            last = max(result.losses)
            logging.getLogger(__name__).info("finished at step %d, loss %.4f", last,
                                             result.losses[last])
        return 0
    if command == "export":
        args = parse_export(rest)
        dtype = getattr(torch, args.dtype) if args.dtype else None
        try:
            out = export(args.checkpoint, args.out, tokenizer_dir=args.tokenizer_dir, dtype=dtype)
        except (FileNotFoundError, ValueError, pickle.UnpicklingError) as e:
            # Each names the file at fault (meta.json, .metadata, tokenizer files).
            raise SystemExit(f"lm-dist export: {e}") from e
        print(out)
        return 0
    print(f"lm-dist: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
