"""Without the shared data, tests that need it skip on a developer's machine but FAIL in CI.

`.ci/run` sets `LM_REQUIRE_DATA=1`; each conftest (or test-data helper) honours it. This runs a
data-hungry test of each package in a pytest subprocess with `LM_SHARED_DATA` pointed at an empty
folder and reads the JUnit XML: with the variable every one errors, without it they skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# One test per package whose fixtures read the shared data.
SKIPPING = [  # skip for a developer without the data
    "packages/lm-data/tests/test_filters.py::test_decontamination_drops_gsm8k_test_question",
    "apps/evaluate/tests/test_scorer.py::test_bits_per_byte_matches_a_hand_computation",
    "apps/chat/tests/test_generation.py::test_greedy_reply_stops_on_end_of_turn",
]
ERRORING = [
    "packages/lm-tok/tests/test_train.py::test_special_tokens_take_the_first_ids"
]  # errors even then


def _pytest(tmp_path: Path, tests: list[str], require: bool) -> tuple[int, dict[str, str], str]:
    """(exit code, outcome per test name, output) of a pytest run without the shared data."""
    (tmp_path / "empty").mkdir(exist_ok=True)
    env = {**os.environ, "LM_SHARED_DATA": str(tmp_path / "empty" / "data")}
    env.pop("LM_REQUIRE_DATA", None)
    if require:
        env["LM_REQUIRE_DATA"] = "1"
    xml = tmp_path / f"junit-{require}.xml"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={xml}",
            *tests,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    outcomes = {}
    for case in ET.parse(xml).iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("error", "failure", "skipped")]
        outcomes[case.get("name")] = kinds[0] if kinds else "passed"
    return out.returncode, outcomes, out.stdout + out.stderr


def _names(tests: list[str]) -> set[str]:
    return {t.rsplit("::", 1)[1] for t in tests}


@pytest.mark.slow
def test_missing_data_fails_under_lm_require_data(tmp_path):
    rc, outcomes, output = _pytest(tmp_path, SKIPPING + ERRORING, require=True)
    assert rc == 1, output
    assert set(outcomes) == _names(SKIPPING + ERRORING)
    assert set(outcomes.values()) == {"error"}, outcomes
    assert output.count("LM_REQUIRE_DATA=1 forbids skipping them") >= len(SKIPPING), output


@pytest.mark.slow
def test_missing_data_skips_for_a_developer(tmp_path):
    rc, outcomes, output = _pytest(tmp_path, SKIPPING, require=False)
    assert rc == 0, output
    assert outcomes == dict.fromkeys(_names(SKIPPING), "skipped"), output


@pytest.mark.slow
def test_lm_align_stops_without_its_data(tmp_path):
    env = {**os.environ, "LM_SHARED_DATA": str(tmp_path / "data"), "LM_REQUIRE_DATA": "1"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "packages/lm-align/tests/test_config.py",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 2 and f"{tmp_path / 'data'} not found" in out.stdout + out.stderr


def test_ci_requires_the_data():
    assert "export LM_REQUIRE_DATA=1" in (ROOT / ".ci" / "run").read_text()
