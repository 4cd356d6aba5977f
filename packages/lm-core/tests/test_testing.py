"""lm_core.testing: a missing resource skips a test, or fails it where CI requires it."""

from __future__ import annotations

import pytest

from lm_core.testing import require, shared_data, shared_data_dir


def test_shared_data_is_found_above_the_test_file(tmp_path, monkeypatch):
    monkeypatch.delenv("LM_SHARED_DATA", raising=False)
    (tmp_path / "shared" / "data").mkdir(parents=True)
    test_file = tmp_path / "checkout" / "packages" / "lm-x" / "tests" / "test_x.py"
    assert shared_data_dir(test_file) == tmp_path / "shared" / "data"
    monkeypatch.setenv("LM_SHARED_DATA", str(tmp_path / "elsewhere"))
    assert shared_data_dir(test_file) == tmp_path / "elsewhere"


def test_missing_data_skips_for_a_developer(tmp_path, monkeypatch):
    monkeypatch.setenv("LM_SHARED_DATA", str(tmp_path / "missing"))
    monkeypatch.delenv("LM_REQUIRE_DATA", raising=False)
    with pytest.raises(pytest.skip.Exception, match="missing not found"):
        shared_data(__file__)


def test_missing_resource_fails_where_required(monkeypatch):
    monkeypatch.setenv("LM_REQUIRE_CLUSTER", "1")
    with pytest.raises(pytest.fail.Exception, match="no slurm; LM_REQUIRE_CLUSTER=1 forbids"):
        require(False, "no slurm", env="LM_REQUIRE_CLUSTER")
    require(True, "never raised", env="LM_REQUIRE_CLUSTER")
