"""`lm-dist train CONFIG.toml [--section.field VALUE ...]` and `lm-dist export [CONFIG.toml]
--checkpoint CKPT --output OUT`: load the config (lm-core), then call `train` or `export`.

Launch several processes with torchrun:

    torchrun --nproc-per-node 4 -m lm_dist train run.toml --parallel.tp 2
"""

from __future__ import annotations

import logging
import pickle
import sys
from collections.abc import Sequence

import torch

from lm_core.cli import Command
from lm_core.cli import main as cli_main
from lm_core.config import write_resolved
from lm_dist.checkpoint import export
from lm_dist.config import ExportConfig, TrainConfig
from lm_dist.trainer import train

log = logging.getLogger(__name__)


def _train(cfg: TrainConfig) -> None:
    # The trainer writes the resolved config (with the parallel layout it resolved) to
    # <run_dir>/config.toml itself: only it knows the world size.
    result = train(cfg)
    if result.losses:
        last = max(result.losses)
        log.info("finished at step %d, loss %.4f", last, result.losses[last])


def _export(cfg: ExportConfig) -> None:
    dtype = getattr(torch, cfg.dtype) if cfg.dtype else None
    out = export(cfg.checkpoint, cfg.output, tokenizer_dir=cfg.tokenizer_dir, dtype=dtype)
    write_resolved(cfg, out, "lm-dist-export.toml")
    print(out)


COMMANDS: dict[str, Command] = {
    "train": Command(TrainConfig, _train, "pretrain as the config describes (torchrun for >1 rank)"),
    # An UnpicklingError names a checkpoint's .metadata that the safe unpickler refused.
    "export": Command(ExportConfig, _export,
                      "write a committed checkpoint as a Hugging Face directory",
                      errors=(pickle.UnpicklingError,)),
}


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main("lm-dist", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
