"""`lm-align sft|dpo CONFIG.toml [--section.field VALUE ...]`: load the config (lm-core), run.

    lm-align sft sft.toml
    lm-align sft sft.toml --train.learning_rate 1e-4 --train.max_steps 200
    lm-align dpo dpo.toml --beta 0.2 --loss_type ipo --train.extra.label_smoothing 0.1
    accelerate launch --config_file fsdp.yaml -m lm_align.cli sft sft.toml

The TOML keys are the config fields, with [data] and [train] tables (and [train.extra] for any
other trl field, checked against trl's SFTConfig/DPOConfig); flags override the file. Paths are
relative to the working directory. The resolved config is written to OUTPUT/lm-align-STAGE.toml.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lm_align.config import DPORunConfig, SFTRunConfig
from lm_core.cli import Command
from lm_core.cli import main as cli_main
from lm_core.config import write_resolved


def _sft(cfg: SFTRunConfig) -> None:
    # Imported late: `--help` and config errors should not wait for trl and transformers.
    from lm_align.sft import main as sft_main

    sft_main(cfg)
    write_resolved(cfg, cfg.output, "lm-align-sft.toml")


def _dpo(cfg: DPORunConfig) -> None:
    from lm_align.dpo import main as dpo_main

    dpo_main(cfg)
    write_resolved(cfg, cfg.output, "lm-align-dpo.toml")


COMMANDS: dict[str, Command] = {
    "sft": Command(SFTRunConfig, _sft, "supervised fine-tuning of a Hugging Face directory"),
    "dpo": Command(DPORunConfig, _dpo, "direct preference optimisation of a Hugging Face directory"),
}


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main("lm-align", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
