"""Run the configured tasks on one model directory; write results.json and results.md."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from lm_evaluate.choice import piqa_questions, run_mmlu, run_piqa
from lm_evaluate.config import EvalConfig
from lm_evaluate.gsm8k import run_gsm8k
from lm_evaluate.lambada import run_lambada
from lm_evaluate.perplexity import run_heldout, run_wikitext
from lm_evaluate.scorer import Scorer, load_scorer

logger = logging.getLogger(__name__)

#: The metrics each task's row of the table shows, in order.
HEADLINE = {
    "wikitext": ("bits_per_byte", "word_perplexity", "token_perplexity"),
    "lambada": ("acc", "perplexity"),
    "piqa": ("acc", "acc_norm"),
    "mmlu": ("acc", "acc_norm"),
    "gsm8k": ("exact_match", "strict_match"),
    "heldout": ("bits_per_byte", "token_perplexity"),
}


def run_task(task: str, scorer: Scorer, cfg: EvalConfig, progress: bool = False) -> dict[str, Any]:
    limit = cfg.limit_of(task)
    if task == "wikitext":
        return run_wikitext(scorer, cfg.path("wikitext"), limit=limit, stride=cfg.stride)
    if task == "heldout":
        return run_heldout(scorer, cfg.heldout, text_field=cfg.heldout_field,
                           max_chars=cfg.heldout_chars, limit=limit, stride=cfg.stride)
    if task == "lambada":
        return run_lambada(scorer, cfg.path("lambada"), limit=limit)
    if task == "piqa":
        return run_piqa(scorer, cfg.path("piqa"), cfg.path("piqa_labels"), limit=limit)
    if task == "mmlu":
        return run_mmlu(scorer, cfg.path("mmlu"), split=cfg.mmlu_split, shots=cfg.mmlu_shots,
                        limit=limit, subjects=cfg.mmlu_subjects)
    if task == "gsm8k":
        return run_gsm8k(scorer, cfg.path("gsm8k"), train_path=cfg.path("gsm8k_train"),
                         shots=cfg.gsm8k_shots, chat=cfg.gsm8k_prompt == "chat",
                         max_new_tokens=cfg.gsm8k_max_new_tokens, limit=limit, progress=progress)
    raise ValueError(f"unknown task {task!r}")


def check_inputs(cfg: EvalConfig) -> None:
    """Fail before the model loads: a task file is missing, or PIQA's labels do not pair
    with its questions (the error names the labels file and both counts)."""
    cfg.check_files()
    if "piqa" in cfg.tasks:
        piqa_questions(cfg.path("piqa"), cfg.path("piqa_labels"))


def evaluate(cfg: EvalConfig, *, progress: bool = False) -> dict[str, Any]:
    """Every task of `cfg` on its model; returns (and, with `output`, writes) the results."""
    check_inputs(cfg)
    scorer = load_scorer(cfg.model, device=cfg.device, dtype=cfg.dtype,
                         batch_size=cfg.batch_size, max_length=cfg.max_length, progress=progress)
    results = []
    for task in cfg.tasks:
        start = time.perf_counter()
        result = run_task(task, scorer, cfg, progress)
        result["seconds"] = round(time.perf_counter() - start, 2)
        logger.info("%s: %s", task, result["metrics"])
        results.append(result)
    report = {"model": str(cfg.model), "limit": cfg.limit, "task_limits": cfg.task_limits,
              "max_length": scorer.max_length, "parameters": scorer.model.num_params(),
              "results": results}
    if cfg.output is not None:
        write_report(report, cfg.output)
    return report


def markdown_table(report: dict[str, Any]) -> str:
    """One row per task: its headline metrics, the number of records and the source file."""
    lines = ["| task | metric | value | n | file |", "|---|---|---|---|---|"]
    for r in report["results"]:
        for metric in HEADLINE.get(r["task"], tuple(r["metrics"])):
            value = r["metrics"][metric]
            shown = f"{value:.4f}" if metric in ("bits_per_byte",) or value <= 1 else f"{value:.2f}"
            lines.append(f"| {r['task']} | {metric} | {shown} | {r['n']} {r['unit']} | "
                         f"`{Path(r['files'][0]).name}` |")
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    (output / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (output / "results.md").write_text(markdown_table(report))
    logger.info("wrote %s and %s", output / "results.json", output / "results.md")
