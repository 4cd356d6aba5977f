"""`main(cfg)`: check every stage's package config, then run the stages in order, each
skipped when its outputs are already there."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from lm_core.config import write_resolved
from lm_pipeline import corpus, evaluation, training
from lm_pipeline.config import PipelineConfig
from lm_pipeline.report import run_report
from lm_pipeline.runner import run_stages

logger = logging.getLogger(__name__)

STAGE_FUNCTIONS = {
    "data": corpus.run_data,
    "tokenize": corpus.run_tokenize,
    "pretrain": training.run_pretrain,
    "sft": training.run_sft,
    "dpo": training.run_dpo,
    "eval": evaluation.run_eval,
    "chat": evaluation.run_chat,
    "report": run_report,
}


def check(cfg: PipelineConfig) -> None:
    """Build every stage's package config before any stage runs, so that a bad field fails in
    seconds, not after pretraining. Paths a stage reads from an earlier one need not exist yet."""
    for run, inputs in corpus.data_inputs(cfg).items():
        corpus.curation_config(cfg, run, inputs)
    planned = [cfg.stage_dir("data") / "corpus.jsonl.gz"]  # stands for the data stage's files
    vocab_size = corpus.tokenizer_config(cfg, planned).tokenizer.vocab_size
    corpus.encode_config(cfg, planned, "train")
    training.pretrain_config(cfg, vocab_size)
    for stage in ("sft", "dpo"):
        _check_align(cfg, stage)
    evaluation.eval_config(cfg, "base", planned)
    evaluation.sampling_config(cfg)


def _check_align(cfg: PipelineConfig, stage: str) -> None:
    """lm-align checks its input model directory last: when the earlier stage has not written
    it yet, that is the one error to expect, every other field having passed."""
    model = cfg.stage_dir(training.ALIGN_INPUT[stage]) / "hf"
    try:
        training.align_config(cfg, stage)
    except FileNotFoundError as e:
        if model.exists() or str(model) not in str(e):
            raise


def main(cfg: PipelineConfig) -> Path:
    """Run the pipeline; returns the report's path."""
    check(cfg)
    # The resolved config: `lm-pipeline run <run_dir>/config.toml` redoes this run.
    write_resolved(dataclasses.replace(cfg, redo_from=None), cfg.root, "config.toml")
    run_stages(cfg, STAGE_FUNCTIONS, redo_from=cfg.redo_from)
    return cfg.stage_dir("report") / "report.md"
