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

def _sections() -> dict[str, type]:
    """The config each table holds, for `--help` (imported only when help is asked for)."""
    import lm_data
    import lm_dist
    import lm_tok
    from lm_align import DPORunConfig, SFTRunConfig
    from lm_chat import SamplingConfig
    from lm_evaluate import EvalConfig
    from lm_pipeline.config import CorpusConfig

    return {"corpus": CorpusConfig, "data": lm_data.CurationConfig,
            "tokenizer": lm_tok.TokenizerTrainConfig, "encode": lm_tok.EncodeConfig,
            "pretrain": lm_dist.TrainConfig, "sft": SFTRunConfig, "dpo": DPORunConfig,
            "eval": EvalConfig, "chat": SamplingConfig}


COMMANDS = {"run": Command(PipelineConfig, _run, HELP, sections=_sections)}


def main(argv: Sequence[str] | None = None) -> int:
    # A bare `lm-pipeline` (or one given only a file and flags) runs: the project's first command.
    return cli_main("lm-pipeline", COMMANDS, argv, default="run")


if __name__ == "__main__":
    sys.exit(main())
