"""`main(cfg)`: every stage in order, each skipped when its outputs are already there."""

from __future__ import annotations

import json
from pathlib import Path

from lm_pipeline.config import PipelineConfig
from lm_pipeline.corpus import run_data, run_tokenize
from lm_pipeline.evaluation import run_chat, run_eval
from lm_pipeline.report import run_report
from lm_pipeline.runner import run_stages
from lm_pipeline.training import run_dpo, run_pretrain, run_sft

STAGE_FUNCTIONS = {
    "data": run_data,
    "tokenize": run_tokenize,
    "pretrain": run_pretrain,
    "sft": run_sft,
    "dpo": run_dpo,
    "eval": run_eval,
    "chat": run_chat,
    "report": run_report,
}


def main(cfg: PipelineConfig, *, redo_from: str | None = None) -> Path:
    """Run the pipeline; returns the report's path."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "config.json").write_text(
        json.dumps({s: cfg.section(s) for s in STAGE_FUNCTIONS}, indent=2, default=str) + "\n")
    run_stages(cfg, STAGE_FUNCTIONS, redo_from=redo_from)
    return cfg.run_dir / "report" / "report.md"
