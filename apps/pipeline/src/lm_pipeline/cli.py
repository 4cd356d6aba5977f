"""`lm-pipeline [run] [CONFIG.toml] [--section.field VALUE ...]`: the whole pipeline.

    uv run lm-pipeline                                   # the demo preset on the demo pack
    uv run lm-pipeline --preset micro --run-dir /tmp/m   # minutes: every stage, tiny
    uv run lm-pipeline --redo-from sft --sft.train.max_steps 200
    uv run lm-pipeline run my-run.toml --pretrain.train.z_loss 1e-4
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lm_core.cli import Command
from lm_core.cli import main as cli_main
from lm_pipeline.config import PipelineConfig
from lm_pipeline.pipeline import main as run_pipeline


def _run(cfg: PipelineConfig) -> int:
    print(f"report: {run_pipeline(cfg)}")
    return 0


HELP = ("every stage, from raw crawl files to a chat model and its report (stages already done "
        "are skipped). Each section holds a package's own config, any field of which can be set: "
        "[data] `lm-data run`, [tokenizer] `lm-tok train`, [encode] `lm-tok encode`, [pretrain] "
        "`lm-dist train`, [sft] `lm-align sft`, [dpo] `lm-align dpo`, [eval] `lm-evaluate run`, "
        "[chat] lm-chat's sampling; their --help lists the fields. Below: the values the preset "
        "gives.")

COMMANDS = {"run": Command(PipelineConfig, _run, HELP)}


def main(argv: Sequence[str] | None = None) -> int:
    # A bare `lm-pipeline` (or one given only a file and flags) runs: the project's first command.
    return cli_main("lm-pipeline", COMMANDS, argv, default="run")


if __name__ == "__main__":
    sys.exit(main())
