"""`lm-pipeline [run] [CONFIG.toml] [--section.field VALUE ...]`: the whole pipeline.

    uv run lm-pipeline                                   # the demo preset on the demo pack
    uv run lm-pipeline --preset micro --run_dir /tmp/m   # minutes: every stage, tiny
    uv run lm-pipeline --redo_from sft --sft.train.max_steps 200
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


HELP = ("every stage, raw crawl files to a chat model and its report (done stages are skipped); "
        "[data] [tokenizer] [encode] [pretrain] [sft] [dpo] [eval] [chat] hold the configs of "
        "lm-data run, lm-tok train/encode, lm-dist train, lm-align sft/dpo, lm-evaluate run and "
        "lm-chat's sampling")

COMMANDS = {"run": Command(PipelineConfig, _run, HELP)}


def main(argv: Sequence[str] | None = None) -> int:
    # A bare `lm-pipeline` (or one given only a file and flags) runs: the project's first command.
    return cli_main("lm-pipeline", COMMANDS, argv, default="run")


if __name__ == "__main__":
    sys.exit(main())
