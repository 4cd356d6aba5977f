import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from lm_dist_testdata import write_shards


@pytest.fixture(scope="session")
def shard_dir(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("data") / "train")


@pytest.fixture(scope="session")
def val_dir(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("data") / "val", num_tokens=4000,
                        num_shards=1, seed=1)
