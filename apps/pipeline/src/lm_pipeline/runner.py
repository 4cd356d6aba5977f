"""Stage bookkeeping: each stage writes `<run_dir>/<stage>/` and a completion marker.

A stage is skipped when its marker holds the same key as now: a hash of its own settings
and of the keys of every stage before it, so changing the tokenizer's vocabulary redoes
the tokenizer and everything after it, and nothing before. `redo_from` forces a stage and
its successors to run again. A stage is never half-trusted: its folder is emptied before it
runs and the marker is written last.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lm_pipeline.config import STAGES, PipelineConfig

logger = logging.getLogger(__name__)

MARKER = ".stage.json"


@dataclass
class StageResult:
    """What a finished stage reports for the next stages and the report."""

    stage: str
    key: str
    seconds: float
    skipped: bool
    summary: dict[str, Any]


def stage_key(cfg: PipelineConfig, stage: str, upstream: str) -> str:
    blob = json.dumps({"upstream": upstream, **cfg.section(stage)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_marker(stage_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((stage_dir / MARKER).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def run_stages(cfg: PipelineConfig, stages: dict[str, Callable[[PipelineConfig, Path], dict]],
               *, redo_from: str | None = None) -> list[StageResult]:
    """Run each stage in STAGES order unless its marker says it is done with the same key."""
    if redo_from is not None and redo_from not in STAGES:
        raise ValueError(f"redo_from: {redo_from!r} is not a stage; stages: {', '.join(STAGES)}")
    cfg.root.mkdir(parents=True, exist_ok=True)
    redo = False
    upstream, results = "", []
    for stage in STAGES:
        redo = redo or stage == redo_from
        key = stage_key(cfg, stage, upstream)
        stage_dir = cfg.stage_dir(stage)
        marker = read_marker(stage_dir)
        if marker and marker.get("key") == key and not redo:
            logger.info("stage %s: done already (key %s), skipped", stage, key)
            results.append(StageResult(stage, key, marker["seconds"], True, marker["summary"]))
        else:
            results.append(_run_one(cfg, stage, stages[stage], key, stage_dir))
            redo = True  # everything after a stage that ran must run again
        upstream = key
    return results


def _run_one(cfg: PipelineConfig, stage: str, fn: Callable[[PipelineConfig, Path], dict],
             key: str, stage_dir: Path) -> StageResult:
    logger.info("stage %s: running", stage)
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    start = time.perf_counter()
    summary = fn(cfg, stage_dir)
    seconds = round(time.perf_counter() - start, 1)
    marker = {"stage": stage, "key": key, "seconds": seconds, "summary": summary,
              "finished": datetime.now(UTC).isoformat(timespec="seconds")}
    (stage_dir / MARKER).write_text(json.dumps(marker, indent=2, default=str) + "\n")
    logger.info("stage %s: finished in %.1f s", stage, seconds)
    return StageResult(stage, key, seconds, False, summary)
