"""Stages `pretrain`, `sft` and `dpo`: lm-dist on the shards, then lm-align twice.

Each stage ends with a Hugging Face directory in `<stage>/hf/` (model, tokenizer, chat
template) that the next stage starts from. The package configs are the `[pretrain]`, `[sft]`
and `[dpo]` sections with the paths the stage owns filled in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lm_align
import lm_dist
from lm_pipeline.config import PipelineConfig, package_config


def pretrain_config(cfg: PipelineConfig, vocab_size: int) -> lm_dist.TrainConfig:
    """The lm-dist run of the `pretrain` stage, on the tokenize stage's shards."""
    shards = cfg.stage_dir("tokenize")
    owned = {"run_dir": str(cfg.stage_dir("pretrain") / "run"),
             "model": {"overrides": {"vocab_size": vocab_size}},
             "data": {"path": str(shards / "shards-train"), "val_path": str(shards / "shards-val")}}
    seeded = {"data": {"seed": cfg.seed}, "train": {"seed": cfg.seed}}
    return package_config(lm_dist.TrainConfig, cfg, "pretrain", owned, seeded=seeded)


def run_pretrain(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    manifest = cfg.stage_dir("tokenize") / "shards-train" / "manifest.json"
    train_cfg = pretrain_config(cfg, json.loads(manifest.read_text())["vocab_size"])
    metrics = lm_dist.launch(train_cfg, cfg.nproc)
    lm_dist.export(out / "run", out / "hf", tokenizer_dir=cfg.stage_dir("tokenize") / "tokenizer")
    return {"steps": train_cfg.train.steps, **metrics.final}


ALIGN_INPUT = {"sft": "pretrain", "dpo": "sft"}
"""Each lm-align stage starts from the `hf/` directory of this stage."""


def align_config(cfg: PipelineConfig, stage: str) -> lm_align.SFTRunConfig | lm_align.DPORunConfig:
    """The lm-align run of stage `sft` or `dpo`, on the data's `<stage>/` files."""
    files = sorted((cfg.source / stage).glob("*.json*"))
    if not files:
        raise FileNotFoundError(f"{cfg.source / stage}: no training files")
    owned = {"model": str(cfg.stage_dir(ALIGN_INPUT[stage]) / "hf"),
             "output": str(cfg.stage_dir(stage) / "hf"),
             "data": {"train": [str(f) for f in files]}}
    seeded = {"data": {"seed": cfg.seed}, "train": {"seed": cfg.seed}}
    cls = lm_align.SFTRunConfig if stage == "sft" else lm_align.DPORunConfig
    return package_config(cls, cfg, stage, owned, seeded=seeded)


def run_sft(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    return lm_align.run_sft(align_config(cfg, "sft"))


def run_dpo(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    return lm_align.run_dpo(align_config(cfg, "dpo"))
