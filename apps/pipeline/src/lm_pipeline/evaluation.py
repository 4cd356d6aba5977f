"""Stages `eval` and `chat`: the base, SFT and DPO models side by side, then sample chats."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from lm_chat import ChatModel, SamplingConfig
from lm_evaluate import Scorer, load_model_dir, perplexity, run_gsm8k, run_piqa
from lm_pipeline.config import PipelineConfig
from lm_pipeline.corpus import iter_jsonl

logger = logging.getLogger(__name__)

MODELS = {"base": "pretrain", "sft": "sft", "dpo": "dpo"}
"""Evaluated model → the stage whose `hf/` directory holds it."""


def model_dir(cfg: PipelineConfig, stage: str) -> Path:
    return cfg.run_dir / stage / "hf"


def _heldout_text(cfg: PipelineConfig) -> list[str]:
    corpus = json.loads((cfg.run_dir / "data" / "corpus.json").read_text())
    docs = [r["text"] for p in corpus["heldout"] for r in iter_jsonl(Path(p))]
    limit = cfg.eval.heldout_chars
    return [d[:limit] for d in docs] if limit else docs


def _eval_file(cfg: PipelineConfig, prefix: str) -> Path | None:
    found = sorted((cfg.source / "eval").glob(f"{prefix}*.jsonl*"))
    return found[0] if found else None


def evaluate_model(cfg: PipelineConfig, name: str, directory: Path) -> dict[str, Any]:
    """Bits-per-byte on the held-out book, PIQA, and GSM8K for the chat models."""
    model, tokenizer = load_model_dir(directory)
    scorer = Scorer(model, tokenizer, batch_size=16)
    row: dict[str, Any] = {"model": name, "parameters": model.num_params()}
    row["heldout_bpb"] = perplexity(scorer, _heldout_text(cfg))["bits_per_byte"]
    piqa = _eval_file(cfg, "piqa")
    if piqa is not None:
        labels = next(piqa.parent.glob(piqa.name.split(".jsonl")[0] + "-labels.lst"))
        result = run_piqa(scorer, piqa, labels, limit=cfg.eval.piqa_limit)
        row["piqa_acc"], row["piqa_acc_norm"] = result["metrics"]["acc"], result["metrics"]["acc_norm"]
    gsm8k = _eval_file(cfg, "gsm8k")
    if gsm8k is not None and cfg.eval.gsm8k_limit and name != "base":
        result = run_gsm8k(scorer, gsm8k, chat=True, limit=cfg.eval.gsm8k_limit,
                           max_new_tokens=cfg.eval.gsm8k_max_new_tokens)
        row["gsm8k_exact_match"] = result["metrics"]["exact_match"]
    return row


def run_eval(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    torch.manual_seed(cfg.seed)
    rows = [evaluate_model(cfg, name, model_dir(cfg, stage)) for name, stage in MODELS.items()]
    (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    return {"rows": rows}


def run_chat(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    chat = ChatModel.load(model_dir(cfg, "dpo"))
    sampling = SamplingConfig(temperature=cfg.chat.temperature, top_p=None,
                              max_new_tokens=cfg.chat.max_new_tokens, seed=cfg.seed)
    conversations = []
    for prompt in cfg.chat.prompts:
        messages = [{"role": "user", "content": prompt}]
        generation = chat.start(messages, sampling)
        reply = "".join(generation)
        conversations.append({"messages": [*messages, {"role": "assistant", "content": reply}],
                              "finish_reason": generation.finish_reason})
        logger.info("user: %s\nassistant: %s", prompt, reply)
    (out / "conversations.json").write_text(json.dumps(conversations, indent=2, ensure_ascii=False) + "\n")
    return {"conversations": conversations}
