"""`lm-pipeline --preset micro` end to end, as a user runs it, then a cached rerun."""

import json
import os
import subprocess
import sys
import time

import pytest

from lm_pipeline.config import STAGES
from lm_pipeline.runner import MARKER


@pytest.mark.slow
def test_micro_pipeline_end_to_end(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "WANDB_MODE": "offline",
           "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, "-m", "lm_pipeline.cli", "--preset", "micro", "--run-dir", str(run_dir)]
    subprocess.run(cmd, check=True, env=env, timeout=900)

    for stage in STAGES:
        assert (run_dir / stage / MARKER).is_file(), f"stage {stage} did not finish"
    corpus = json.loads((run_dir / "data" / "corpus.json").read_text())
    assert len(corpus["train"]) >= 3 and corpus["heldout"]
    assert (run_dir / "data" / "web-warc" / "report" / "report.md").is_file()
    assert (run_dir / "tokenize" / "tokenizer" / "tokenizer.json").is_file()
    assert json.loads((run_dir / "tokenize" / "shards-train" / "manifest.json").read_text())["num_tokens"] > 10_000
    for stage in ("pretrain", "sft", "dpo"):
        assert (run_dir / stage / "hf" / "model.safetensors").is_file()
    assert (run_dir / "pretrain" / "run" / "metrics.jsonl").is_file()
    rows = json.loads((run_dir / "eval" / "results.json").read_text())
    assert [r["model"] for r in rows] == ["base", "sft", "dpo"]
    assert all(0 < r["heldout_bpb"] < 20 for r in rows)
    report = (run_dir / "report" / "report.md").read_text()
    for heading in ("## Data", "## Tokenizer", "## Pretraining", "## Evaluation", "## Sample chats",
                    "## Time per stage"):
        assert heading in report
    assert (run_dir / "report" / "report.html").is_file()
    assert (run_dir / "report" / "loss.png").is_file()

    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True, timeout=300)
    assert out.stderr.count("done already") == len(STAGES)
    assert time.perf_counter() - start < 120  # nothing was recomputed
