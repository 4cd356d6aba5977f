"""Stage `report`: one page (`report.md` and `report.html`) on the whole run.

Filter funnel, tokenizer figures, loss and learning-rate curves, the evaluation table of
the base/SFT/DPO models, the sample chats, and the time each stage took.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import markdown

from lm_dist.metrics import RunMetrics, read_metrics
from lm_pipeline.config import STAGES, PipelineConfig
from lm_pipeline.runner import read_marker


def _plot_curves(metrics: RunMetrics, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    train, val = metrics.train, metrics.val
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], label="train")
    if val:
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation")
    ax.set(xlabel="step", ylabel="loss (nats/token)", title="Pretraining loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=110)
    figures.append("loss.png")
    plt.close(fig)
    lr = [r for r in train if "lr" in r]
    if lr:
        fig, ax = plt.subplots(figsize=(6, 2.5))
        ax.plot([r["step"] for r in lr], [r["lr"] for r in lr])
        ax.set(xlabel="step", ylabel="learning rate", title="Schedule")
        fig.tight_layout()
        fig.savefig(out / "lr.png", dpi=110)
        figures.append("lr.png")
        plt.close(fig)
    return figures


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "-")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _data_section(cfg: PipelineConfig, out: Path) -> list[str]:
    lines = ["## Data: what lm-data kept and removed", ""]
    for name in ("corpus", "heldout"):
        run = cfg.stage_dir("data") / name / "report"
        if not (run / "report.md").is_file():
            continue
        lines += [f"### {name}", "", f"Full removal report: `data/{name}/report/report.md`.", ""]
        funnel = run / "funnel.png"
        if funnel.is_file():
            shutil.copy2(funnel, out / f"funnel-{name}.png")
            lines += [f"![{name} funnel](funnel-{name}.png)", ""]
        report = json.loads((run / "report.json").read_text())
        rows = report.get("filters") or []
        if rows:
            columns = [k for k in ("filter", "in", "out", "removed_share") if k in rows[0]]
            lines += [_table(rows, columns), ""]
    return lines


def _stage_summary(cfg: PipelineConfig, stage: str) -> dict[str, Any]:
    return (read_marker(cfg.stage_dir(stage)) or {}).get("summary", {})


def build_report(cfg: PipelineConfig, out: Path) -> str:
    tok, pre = _stage_summary(cfg, "tokenize"), _stage_summary(cfg, "pretrain")
    lines = [f"# lm-pipeline run: `{cfg.root}`", "", f"Data: `{cfg.source}`", ""]
    lines += _data_section(cfg, out)
    lines += ["## Tokenizer", "", _table([tok], ["vocab_size", "train_documents", "train_tokens",
                                                 "bytes_per_token", "val_tokens"]), ""]
    lines += ["## Pretraining", "", _table([pre], ["steps", "loss", "val_loss", "val_bits_per_byte",
                                                   "median_tokens_per_s", "median_mfu"]), ""]
    run = cfg.stage_dir("pretrain") / "run"
    if (run / "metrics.jsonl").is_file():
        lines += [f"![{f}]({f})" for f in _plot_curves(read_metrics(run), out)] + [""]
    for stage, what in (("sft", "held-out SFT loss"), ("dpo", "held-out preference accuracy")):
        summary = _stage_summary(cfg, stage)
        rows = [{"": when, **summary[when]} for when in ("before", "after") if when in summary]
        data = summary.get("data", {})
        lines += [f"## {stage.upper()}: {what}, before and after", "",
                  f"{data.get('train_examples', '?')} training and "
                  f"{data.get('eval_examples', '?')} "
                  f"held-out examples; {data.get('skipped', 0)} malformed records skipped.", ""]
        if rows:
            lines += [_table(rows, ["", *[k for k in rows[0] if k != ""]]), ""]
    rows = _stage_summary(cfg, "eval").get("rows", [])
    if rows:
        columns = ["model", "heldout_bits_per_byte", "piqa_acc", "piqa_acc_norm",
                   "gsm8k_exact_match"]
        lines += ["## Evaluation", "", _table(rows, columns), ""]
    lines += ["## Sample chats (DPO model, greedy)", ""]
    for conv in _stage_summary(cfg, "chat").get("conversations", []):
        for m in conv["messages"]:
            text = m["content"].strip().replace("\n", "\n> ")
            lines += [f"**{m['role']}**:", "", f"> {text or '(empty)'}", ""]
        lines += [f"_finish: {conv['finish_reason']}_", "", "---", ""]
    timings = [{"stage": s, "seconds": (read_marker(cfg.stage_dir(s)) or {}).get("seconds", "-")}
               for s in STAGES if s != "report"]
    lines += ["## Time per stage", "", _table(timings, ["stage", "seconds"]), ""]
    return "\n".join(lines)


def run_report(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    text = build_report(cfg, out)
    (out / "report.md").write_text(text)
    body = markdown.markdown(text, extensions=["tables"])
    html = (f"<!doctype html><html><head><meta charset='utf-8'><title>lm-pipeline report</title>"
            f"<style>body{{font-family:sans-serif;max-width:60rem;margin:auto}}"
            f"table{{border-collapse:"
            f"collapse}}td,th{{border:1px solid #ccc;padding:2px 6px}}</style></head><body>{body}"
            f"</body></html>\n")
    (out / "report.html").write_text(html)
    return {"report": str(out / "report.md")}
