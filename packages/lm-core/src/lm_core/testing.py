"""For the workspace's tests: where the shared third-party data lies, and what a test does when
a resource it needs (the data, a Slurm or Ray cluster) is missing.

A developer without the resource sees the test skip with the reason; CI exports
`LM_REQUIRE_DATA=1` (and the like), under which the same test fails, so that a run without the
resource can never pass vacuously. pytest is imported only when a test is skipped or failed.
"""

from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir(start: str | Path) -> Path:
    """`LM_SHARED_DATA`, else the first `shared/data` folder above `start` (a test file: the
    data lies beside the checkout), else where it would be beside the checkout's parent."""
    if os.environ.get("LM_SHARED_DATA"):
        return Path(os.environ["LM_SHARED_DATA"])
    here = Path(start).resolve()
    for folder in here.parents:
        if (folder / "shared" / "data").is_dir():
            return folder / "shared" / "data"
    return here.parents[min(4, len(here.parents) - 1)] / "shared" / "data"


def require(available: bool, reason: str, *, env: str = "LM_REQUIRE_DATA") -> None:
    """Skip the calling test when `available` is false, or fail it when `env` is set to 1."""
    if available:
        return
    import pytest

    if os.environ.get(env) == "1":
        pytest.fail(f"{reason}; {env}=1 forbids skipping them", pytrace=False)
    pytest.skip(reason)


def shared_data(start: str | Path) -> Path:
    """The shared data folder for the test file `start`, or skip/fail (`LM_REQUIRE_DATA`)."""
    folder = shared_data_dir(start)
    require(folder.is_dir(), f"{folder} not found: these tests need the shared third-party data "
                             "(set LM_SHARED_DATA)")
    return folder
