"""Stages `eval` and `chat`: the base, SFT and DPO models side by side, then sample chats."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import torch

from lm_chat import ChatModel, SamplingConfig
from lm_evaluate import EvalConfig, Scorer, evaluate, load_model_dir, perplexity
from lm_pipeline.config import PipelineConfig, package_config
from lm_pipeline.corpus import iter_jsonl

logger = logging.getLogger(__name__)

MODELS = {"base": "pretrain", "sft": "sft", "dpo": "dpo"}
"""Evaluated model → the stage whose `hf/` directory holds it."""


def model_dir(cfg: PipelineConfig, stage: str) -> Path:
    return cfg.stage_dir(stage) / "hf"


def _heldout_text(cfg: PipelineConfig) -> list[str]:
    corpus = json.loads((cfg.stage_dir("data") / "corpus.json").read_text())
    return [r["text"] for p in corpus["heldout"] for r in iter_jsonl(Path(p))]


def _eval_files(cfg: PipelineConfig) -> dict[str, str]:
    """The task files of the data's eval/ folder, by lm-evaluate's file keys."""
    found = {}
    for key, pattern in (("piqa", "piqa*.jsonl*"), ("piqa_labels", "piqa*-labels.lst"),
                         ("gsm8k", "gsm8k*.jsonl*")):
        files = sorted((cfg.source / "eval").glob(pattern))
        if files:
            found[key] = str(files[0])
    return found


def eval_config(cfg: PipelineConfig, name: str) -> EvalConfig:
    """lm-evaluate on model `name` (base, sft or dpo): the `[eval]` section with the stage's
    paths; the base model is not asked chat questions (GSM8K through the chat template)."""
    files = _eval_files(cfg)
    owned = {"model": str(model_dir(cfg, MODELS[name])), "output": str(cfg.stage_dir("eval") / name),
             "data_dir": str(cfg.source), "files": files}
    ec = package_config(EvalConfig, cfg, "eval", owned)
    tasks = tuple(t for t in ec.tasks if (t != "gsm8k" or name != "base")
                  and all(k in files for k in TASK_FILES.get(t, (t,))))
    return dataclasses.replace(ec, tasks=tasks)


TASK_FILES = {"piqa": ("piqa", "piqa_labels"), "gsm8k": ("gsm8k",)}


def evaluate_model(cfg: PipelineConfig, name: str) -> dict[str, Any]:
    """Bits-per-byte on the held-out book, PIQA, and GSM8K for the chat models."""
    ec = eval_config(cfg, name)
    report = evaluate(ec)
    row: dict[str, Any] = {"model": name, "parameters": report["parameters"]}
    model, tokenizer = load_model_dir(ec.model)
    row["heldout_bpb"] = perplexity(Scorer(model, tokenizer, batch_size=16),
                                    _heldout_text(cfg))["bits_per_byte"]
    for result in report["results"]:
        for metric in ("acc", "acc_norm", "exact_match"):
            if metric in result["metrics"]:
                row[f"{result['task']}_{metric}"] = result["metrics"][metric]
    return row


def run_eval(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    rows = [evaluate_model(cfg, name) for name in MODELS]
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    return {"rows": rows}


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
