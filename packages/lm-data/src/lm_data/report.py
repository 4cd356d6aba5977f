"""The removal report of a finished run: `report/report.md`, `report/report.json`,
`report/funnel.png`.

Reads only the run folder (datatrove's `logs/<stage>/stats.json`, `output/`, `excluded/`,
`skipped/`), so it works on runs made on any executor once the files are gathered.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lm_core import InputError
from lm_core.jsonl import iter_jsonl

logger = logging.getLogger(__name__)

# datatrove step names (substring) -> folder under excluded/
STEP_FOLDERS = {
    "Extraction": "extraction",
    "Gutenberg": "gutenberg",
    "Url-filter": "url",
    "Language ID": "language",
    "Gopher Repetition": "gopher_repetition",
    "Gopher Quality": "gopher_quality",
    "C4 Quality": "c4_quality",
    "C4 Badwords": "c4_badwords",
    "FineWeb Quality": "fineweb_quality",
    "Decontamination": "decontamination",
    "exact-deduplication stage 3": "exact_dedup",
    "MinHash stage 4": "minhash_dedup",
    "Sentence dedup": "sentence_dedup",
}
# Stats of the sentence-dedup step about the spans it cut out of documents it kept.
SENTENCE_CUTS = ("shortened", "removed_spans", "removed_sentences", "removed_chars")


def _value(v: Any) -> float:
    return v["total"] if isinstance(v, dict) else v


def iter_docs(folder: Path) -> Iterator[dict]:
    """Documents of a datatrove output folder (JSONL.gz or Parquet)."""
    for f in sorted(folder.glob("*.jsonl.gz")):
        yield from (record for _, record in iter_jsonl(f))
    parquet = sorted(folder.glob("*.parquet"))
    if parquet:
        import pyarrow.parquet as pq

        for f in parquet:
            yield from pq.read_table(f).to_pylist()


def _short(text: str, n: int = 160) -> str:
    flat = " ".join(text.split())
    return (flat[:n] + "…") if len(flat) > n else flat


def _read_stats(path: Path) -> list[dict]:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a datatrove stats file ({e})") from e


def _step_rows(run_dir: Path) -> tuple[Counter, list[dict]]:
    reader: Counter = Counter()  # summed over the readers of a run with several inputs
    rows: list[dict] = []
    stage_dirs = [
        p for p in (run_dir / "logs").glob("*_*") if p.is_dir() and p.name.split("_")[0].isdigit()
    ]
    first = run_dir / "logs" / "0_filter" / "stats.json"
    if not first.is_file():
        raise FileNotFoundError(
            f"{first} not found: not an lm-data run folder, or its first stage has not finished"
        )
    for stage in sorted(stage_dirs, key=lambda p: int(p.name.split("_")[0])):
        stats_file = stage / "stats.json"
        if not stats_file.is_file():
            continue
        for step in _read_stats(stats_file):
            stats = {k: _value(v) for k, v in step["stats"].items()}
            folder = next((f for key, f in STEP_FOLDERS.items() if key in step["name"]), None)
            if (
                "READER" in step["name"]
                and stage.name.endswith("_filter")
                and stage.name.startswith("0_")
            ):
                reader.update(stats)
            if folder is None:
                continue
            total = int(stats.get("total", 0))
            out = int(stats.get("forwarded", total - stats.get("dropped", 0)))
            reasons = {
                k[len("dropped_") :]: int(v) for k, v in stats.items() if k.startswith("dropped_")
            }
            rows.append({"filter": folder, "in": total, "out": out, "removed": total - out,
                         "share_removed": (total - out) / total if total else 0.0,
                         "top_reasons": Counter(reasons).most_common(3)})
            if folder == "sentence_dedup":
                rows[-1]["cuts"] = {k: int(stats.get(k, 0)) for k in SENTENCE_CUTS}
    return reader, rows


def _examples(folder: Path, k: int = 3) -> list[str]:
    out = []
    for doc in iter_docs(folder):
        reason = doc.get("metadata", {}).get("filter_reason", "")
        out.append(
            f"[{reason}] {_short(doc.get('text', ''))}" if reason else _short(doc.get("text", ""))
        )
        if len(out) == k:
            break
    return out


def collect(run_dir: str | Path) -> dict:
    """Every figure of the report, as a JSON-able dict."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such folder")
    if not (run_dir / "logs").is_dir():
        raise FileNotFoundError(f"{run_dir}: no logs/ folder; is this an lm-data run folder?")
    reader, rows = _step_rows(run_dir)
    for row in rows:
        row["examples"] = _examples(run_dir / "excluded" / row["filter"])
    output = list(iter_docs(run_dir / "output"))
    excluded = {
        d.name: sum(1 for _ in iter_docs(d)) for d in sorted((run_dir / "excluded").glob("*"))
    }
    skipped = Counter(d["metadata"]["skip_reason"] for d in iter_docs(run_dir / "skipped"))
    clusters = Counter(int(d.get("metadata", {}).get("minhash_cluster_size", 1)) for d in output)
    return {
        "records_read": int(reader.get("records", reader.get("documents", 0))),
        "documents_read": int(reader.get("documents", 0)),
        "skipped": dict(skipped.most_common()),
        "charset_recovered": {k: int(v) for k, v in reader.items() if k.startswith("charset_")},
        "excluded": excluded,
        "output": len(output),
        "accounted": len(output) + sum(excluded.values()) + sum(skipped.values()),
        "filters": rows,
        "languages": dict(
            Counter(d.get("metadata", {}).get("language", "?") for d in output).most_common()
        ),
        "minhash_cluster_sizes": {str(k): v for k, v in sorted(clusters.items())},
        "sentence_dedup": next((row.pop("cuts") for row in rows if "cuts" in row), None),
    }


def _markdown(r: dict) -> str:
    lines = [
        "# lm-data run report",
        "",
        f"Records read: **{r['records_read']}**; documents: {r['documents_read']}; "
        f"kept: **{r['output']}**; excluded: {sum(r['excluded'].values())}; "
        f"skipped: {sum(r['skipped'].values())}. "
        f"Accounted for: {r['accounted']} of {r['records_read']}.",
        "",
    ]
    if r["accounted"] != r["records_read"]:
        lines += [
            f"**{r['records_read'] - r['accounted']} records are not accounted for** "
            "(neither kept, excluded nor skipped): a task may have failed or its files were "
            "removed; see logs/.",
            "",
        ]
    lines += ["## Skipped records", "", "| reason | records |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in r["skipped"].items()]
    if r["charset_recovered"]:
        lines += [
            "",
            "Decoded despite a missing or wrong charset (kept, counted): "
            + ", ".join(f"{k[len('charset_') :]}: {v}" for k, v in r["charset_recovered"].items()),
        ]
    lines += ["", "## Filters", "", "| filter | in | out | removed | share removed | top reasons |",
              "|---|---:|---:|---:|---:|---|"]
    for row in r["filters"]:
        reasons = ", ".join(f"{k} ({v})" for k, v in row["top_reasons"]) or "-"
        lines.append(f"| {row['filter']} | {row['in']} | {row['out']} | {row['removed']} | "
                     f"{row['share_removed']:.1%} | {reasons} |")
    lines += ["", "### Examples of removed text", ""]
    for row in r["filters"]:
        if row["examples"]:
            lines.append(f"**{row['filter']}**")
            lines += [f"- {e.replace('|', '/')}" for e in row["examples"]]
            lines.append("")
    lines += ["## Languages of kept documents", "", "| language | documents |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in r["languages"].items()]
    lines += [
        "",
        "## MinHash cluster sizes of kept documents",
        "",
        "| cluster size | kept documents |",
        "|---:|---:|",
    ]
    lines += [f"| {k} | {v} |" for k, v in r["minhash_cluster_sizes"].items()]
    if r["sentence_dedup"] is not None:
        c = r["sentence_dedup"]
        lines += [
            "",
            "## Sentence dedup",
            "",
            f"Duplicated spans cut: {c['removed_spans']} ({c['removed_sentences']} sentences, "
            f"{c['removed_chars']} characters), including those of dropped documents; "
            f"documents kept shorter: {c['shortened']} (dropped ones are in the filter table "
            "above).",
        ]
    return "\n".join(lines) + "\n"


def _funnel_png(r: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib missing (pip install lm-data[plot]): no funnel.png")
        return False
    labels = ["records", "documents"] + [row["filter"] for row in r["filters"]]
    values = [r["records_read"], r["documents_read"]] + [row["out"] for row in r["filters"]]
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(labels) + 1))
    ax.barh(labels[::-1], values[::-1], color="#4c72b0")
    for y, v in enumerate(values[::-1]):
        ax.text(v, y, f" {v}", va="center", fontsize=8)
    ax.set_xlabel("documents remaining after each step")
    ax.set_title("lm-data funnel")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_report(run_dir: str | Path) -> Path:
    """Write `report/report.md`, `report.json` and `funnel.png` into the run folder; returns
    report.md.

    Raises `FileNotFoundError` or `InputError` (a ValueError) naming the folder or file when
    `run_dir` is not a run.
    """
    r = collect(run_dir)
    if r["accounted"] != r["records_read"]:
        logger.warning(
            "%s: %d records read but %d accounted for", run_dir, r["records_read"], r["accounted"]
        )
    out = Path(run_dir) / "report"
    out.mkdir(exist_ok=True)
    (out / "report.json").write_text(json.dumps(r, indent=2, ensure_ascii=False))
    md = _markdown(r)
    if _funnel_png(r, out / "funnel.png"):
        md = md.replace("\n## Skipped records", "\n![funnel](funnel.png)\n\n## Skipped records", 1)
    (out / "report.md").write_text(md)
    return out / "report.md"
