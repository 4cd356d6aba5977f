"""bench/gpu/check.py rehearsed on CPU, so that its first run on a lent GPU works.

It runs every check with tiny shapes, and fails when the project's code imports a
distribution that the device image lacks and bench/gpu/requirements.txt does not carry as a
wheel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "bench" / "gpu"

_RUN = """
import importlib.metadata as md, json, runpy, sys

import builtins
seen = set()
_import = builtins.__import__

def spy(name, globals=None, locals=None, fromlist=(), level=0):
    # Records what the project's own code imports itself (a library's optional imports
    # depend on what this machine has), cached modules included.
    who = (globals or {{}}).get("__name__", "")
    if level == 0 and (who.startswith("lm_") or who in ("__main__", "shards", "check")):
        seen.add(name.split(".")[0])
    return _import(name, globals, locals, fromlist, level)

builtins.__import__ = spy
sys.argv = ["check.py", *sys.argv[1:]]
code = 0
try:
    runpy.run_path({check!r}, run_name="__main__")
except SystemExit as e:
    code = e.code
owners = md.packages_distributions()
top = seen - set(sys.stdlib_module_names)
print(json.dumps({{"code": code, "dists": sorted({{d for m in top for d in owners.get(m, [])}})}}))
"""


def _names(path: Path) -> set[str]:
    words = [w for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
             for w in line.split()]
    return {canonicalize_name(w) for w in words}


def _allowed() -> set[str]:
    members = {canonicalize_name(f"lm-{p.name.removeprefix('lm-')}")
               for p in (*ROOT.glob("packages/*"), *ROOT.glob("apps/*"))}
    return _names(GPU / "device-image.txt") | _names(GPU / "requirements.txt") | members


@pytest.mark.slow
def test_gpu_check_rehearsed_on_cpu(tmp_path):
    args = ["--device", "cpu", "--preset", "debug", "--train-preset", "debug",
            "--train-seq-len", "64", "--eval-batch", "4", "--out", str(tmp_path)]
    script = _RUN.format(check=str(GPU / "check.py"))
    out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                         timeout=900, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    results = json.loads((tmp_path / "check.json").read_text())
    failed = {k: v for k, v in results.items() if isinstance(v, dict) and not v["ok"]}
    assert report["code"] == 0 and not failed, failed
    assert set(results) >= {"attention", "generation", "train_resume", "eval_memory"}
    assert results["train_resume"]["resumed_from"] == 4
    dists = {canonicalize_name(d) for d in report["dists"]}
    assert {"torch", "transformers", "numpy"} <= dists  # the spy sees the project's imports
    missing = dists - _allowed()
    assert not missing, f"not on the GPU image; add to bench/gpu/requirements.txt: {missing}"
