"""Stages `eval` and `chat`: the base, SFT and DPO models side by side, then sample chats."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import torch

from lm_chat import ChatModel, SamplingConfig
from lm_evaluate import EvalConfig, evaluate
from lm_pipeline.config import PipelineConfig, package_config

logger = logging.getLogger(__name__)

MODELS = {"base": "pretrain", "sft": "sft", "dpo": "dpo"}
"""Evaluated model → the stage whose `hf/` directory holds it."""


def model_dir(cfg: PipelineConfig, stage: str) -> Path:
    return cfg.stage_dir(stage) / "hf"


def _eval_files(cfg: PipelineConfig) -> dict[str, str]:
    """The task files of the data's eval/ folder, under lm-evaluate's file keys."""
    found = {}
    for key, pattern in (("piqa", "piqa*.jsonl*"), ("piqa_labels", "piqa*-labels.lst"),
                         ("gsm8k", "gsm8k*.jsonl*")):
        files = sorted((cfg.source / "eval").glob(pattern))
        if files:
            found[key] = str(files[0])
    return found


def eval_config(cfg: PipelineConfig, name: str, heldout: list[Path]) -> EvalConfig:
    """lm-evaluate on model `name` (base, sft or dpo): the `[eval]` section with the stage's
    paths. The base model skips gsm8k (asked through the chat template) and any task whose
    files the data lacks."""
    files = _eval_files(cfg)
    owned = {"model": str(model_dir(cfg, MODELS[name])),
             "output": str(cfg.stage_dir("eval") / name),
             "data_dir": str(cfg.source), "files": files, "heldout": [str(p) for p in heldout]}
    ec = package_config(EvalConfig, cfg, "eval", owned)
    runs = {"piqa": "piqa" in files, "gsm8k": "gsm8k" in files and name != "base"}
    return dataclasses.replace(ec, tasks=tuple(t for t in ec.tasks if runs.get(t, True)))


def run_eval(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    heldout = json.loads((cfg.stage_dir("data") / "corpus.json").read_text())["heldout"]
    rows = []
    for name in MODELS:
        report = evaluate(eval_config(cfg, name, [Path(p) for p in heldout]))
        row = {"model": name, "parameters": report["parameters"]}
        for result in report["results"]:
            row |= {f"{result['task']}_{k}": v for k, v in result["metrics"].items()
                    if k in HEADLINE}
        rows.append(row)
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    return {"rows": rows}


HEADLINE = ("bits_per_byte", "acc", "acc_norm", "exact_match")
"""The metrics of each task that the results table shows."""


def sampling_config(cfg: PipelineConfig) -> SamplingConfig:
    """How the sample conversations are generated: the `[chat]` section."""
    return package_config(SamplingConfig, cfg, "chat", {}, seeded={"seed": cfg.seed})


def run_chat(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    chat, sampling = ChatModel.load(model_dir(cfg, "dpo")), sampling_config(cfg)
    conversations = []
    for prompt in cfg.chat_prompts:
        messages = [{"role": "user", "content": prompt}]
        generation = chat.start(messages, sampling)
        reply = "".join(generation)
        conversations.append({"messages": [*messages, {"role": "assistant", "content": reply}],
                              "finish_reason": generation.finish_reason})
        logger.info("user: %s\nassistant: %s", prompt, reply)
    text = json.dumps(conversations, indent=2, ensure_ascii=False)
    (out / "conversations.json").write_text(text + "\n")
    return {"conversations": conversations}
