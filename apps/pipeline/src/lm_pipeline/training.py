"""Stages `pretrain`, `sft` and `dpo`: lm-dist on the shards, then lm-align twice.

Each stage ends with a Hugging Face directory in `<stage>/hf/` (model, tokenizer, chat
template) that the next stage starts from.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import lm_align
import lm_dist
from lm_pipeline.config import AlignStage, PipelineConfig


def train_config(cfg: PipelineConfig, out: Path) -> lm_dist.TrainConfig:
    """The lm-dist run of the `pretrain` stage (its vocabulary is the tokenizer's)."""
    p, tok = cfg.pretrain, cfg.run_dir / "tokenize"
    vocab = json.loads((tok / "shards-train" / "manifest.json").read_text())["vocab_size"]
    return lm_dist.TrainConfig(
        run_dir=str(out / "run"),
        model=lm_dist.ModelSection(preset=p.model, overrides={"vocab_size": vocab}),
        optim=lm_dist.OptimizerConfig(lr=p.lr),
        schedule=lm_dist.ScheduleConfig(warmup_steps=p.warmup_steps),
        data=lm_dist.DataConfig(path=str(tok / "shards-train"), val_path=str(tok / "shards-val"),
                                seq_len=p.seq_len, batch_size=p.batch_size, seed=cfg.seed),
        train=lm_dist.TrainingConfig(steps=p.steps, dtype=p.dtype, compile=p.compile, seed=cfg.seed),
        checkpoint=lm_dist.CheckpointConfig(interval=p.steps, keep_last=1),
        metrics=lm_dist.MetricsConfig(log_interval=p.log_interval, val_interval=p.val_interval),
    )


def _torchrun(train_cfg: lm_dist.TrainConfig, nproc: int, out: Path) -> None:
    config_file = out / "train.toml"
    config_file.write_text(train_cfg.to_toml())
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "-m", "lm_dist", "train", str(config_file)]
    subprocess.run(cmd, check=True)


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_pretrain(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    train_cfg = train_config(cfg, out)
    if cfg.nproc > 1:
        _torchrun(train_cfg, cfg.nproc, out)
    else:
        lm_dist.train(train_cfg)
    tokenizer_dir = cfg.run_dir / "tokenize" / "tokenizer"
    lm_dist.export(out / "run", out / "hf", tokenizer_dir=tokenizer_dir)
    rows = _metrics(out / "run")
    train_rows = [r for r in rows if "loss" in r]
    val_rows = [r for r in rows if "val_loss" in r]
    summary: dict[str, Any] = {"steps": cfg.pretrain.steps, "final_loss": train_rows[-1]["loss"]}
    for key in ("tokens_per_s", "mfu"):
        values = [r[key] for r in train_rows[1:] if r.get(key) is not None]
        if values:
            summary[f"median_{key}"] = sorted(values)[len(values) // 2]
    if val_rows:
        val = json.loads((cfg.run_dir / "tokenize" / "shards-val" / "manifest.json").read_text())
        loss = val_rows[-1]["val_loss"]
        summary["val_loss"] = loss
        # nats per token → bits per byte of the held-out text (tokens include bos/eos markers).
        summary["val_bits_per_byte"] = loss * val["num_tokens"] / (val["num_bytes"] * math.log(2))
    return summary


def _align_data(cfg: PipelineConfig, folder: str, stage: AlignStage) -> lm_align.AlignDataConfig:
    files = sorted((cfg.source / folder).glob("*.json*"))
    if not files:
        raise FileNotFoundError(f"{cfg.source / folder}: no training files")
    return lm_align.AlignDataConfig(train=tuple(files), max_train_examples=stage.max_train_examples,
                               max_eval_examples=stage.max_eval_examples, seed=cfg.seed)


def _align_training(cfg: PipelineConfig, stage: AlignStage) -> lm_align.TrainerConfig:
    return lm_align.TrainerConfig(
        learning_rate=stage.lr, max_steps=stage.max_steps, warmup_steps=0.1,
        per_device_train_batch_size=stage.batch_size, per_device_eval_batch_size=stage.batch_size,
        max_length=stage.max_length, logging_steps=max(1, stage.max_steps // 10), seed=cfg.seed)


def run_sft(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    return lm_align.run_sft(lm_align.SFTRunConfig(
        model=cfg.run_dir / "pretrain" / "hf", output=out / "hf",
        data=_align_data(cfg, "sft", cfg.sft), train=_align_training(cfg, cfg.sft)))


def run_dpo(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    return lm_align.run_dpo(lm_align.DPORunConfig(
        model=cfg.run_dir / "sft" / "hf", output=out / "hf", beta=cfg.dpo.beta,
        data=_align_data(cfg, "dpo", cfg.dpo), train=_align_training(cfg, cfg.dpo)))
