"""The bench scripts' rules: alternating order from one helper, every arm on one device,
MFU against the right peak."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
from _pairs import median_ratio, round_order, run_rounds  # noqa: E402

# Every script that times arms against each other, and so must take its order from _pairs.
PAIRED = ("data_bench.py", "extract_quality.py", "gqa_sdpa.py", "model_step.py", "tok_bench.py",
          "train_bench.py")


def test_two_arms_alternate_a_b_then_b_a():
    calls = []
    run_rounds(["A", "B"], 4, lambda arm: calls.append(arm) or 1.0, log=lambda _: None)
    warmup, rounds = calls[:2], calls[2:]
    assert warmup == ["A", "B"]
    assert rounds == ["A", "B", "B", "A", "A", "B", "B", "A"]


def test_more_arms_run_forward_then_reversed():
    assert round_order(["p", "a", "b"], 0) == ["p", "a", "b"]
    assert round_order(["p", "a", "b"], 1) == ["b", "a", "p"]


def test_results_stay_with_their_arm_and_round():
    values = iter(range(100))
    res = run_rounds(["A", "B"], 3, lambda arm: next(values), warmup=False, log=lambda _: None)
    assert res == {"A": [0, 3, 4], "B": [1, 2, 5]}


def test_median_ratio_is_the_median_of_per_round_ratios():
    assert median_ratio([2.0, 9.0, 3.0], [1.0, 3.0, 1.0]) == 3.0


def test_rounds_must_be_positive():
    with pytest.raises(ValueError, match="rounds"):
        run_rounds(["A"], 0, lambda arm: 1.0)


@pytest.mark.parametrize("script", PAIRED)
def test_paired_scripts_use_the_shared_rounds(script):
    tree = ast.parse((BENCH / script).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "_pairs" for alias in node.names}
    assert "run_rounds" in imported, (
        f"bench/{script} does not take its A/B order from bench/_pairs.py"
    )


def test_every_train_bench_arm_runs_on_the_chosen_device(tmp_path):
    import train_bench

    args = train_bench.parse(["--device", "cuda", "--arms", "plain,lm-dist"])
    cfg = train_bench._lm_dist_config(args, tmp_path, compile_blocks=False)
    assert cfg.train.device == "cuda"
    assert train_bench.parse([]).device == "cpu"


def test_gpu_mfu_is_against_the_datasheet_peak(monkeypatch):
    import model_step
    import torch

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "NVIDIA H100 80GB HBM3")
    assert model_step.datasheet_peak("bf16") == 989e12
    assert model_step.datasheet_peak("fp32") == 989e12 / 2  # TF32
