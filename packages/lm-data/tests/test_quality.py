"""Filter quality on real text: clean C4 is mostly kept, toxic 4chan threads mostly removed."""

from __future__ import annotations

import json

import pytest

from lm_data import (
    DedupConfig,
    ExtractConfig,
    InputConfig,
    OutputConfig,
    PipelineConfig,
    URLFilterConfig,
    run,
)
from lm_data.report import collect


def _kept_share(path, tmp_path) -> tuple[float, dict]:
    cfg = PipelineConfig(
        input=InputConfig(paths=[str(path)], format="jsonl"),
        output=OutputConfig(dir=str(tmp_path / "run")),
        extract=ExtractConfig(extractor="none"),
        url_filter=URLFilterConfig(enabled=False),  # 4chan threads carry no URL
        dedup=DedupConfig(exact=False, minhash=False),
    )
    r = collect(run(cfg))
    return r["output"] / r["documents_read"], r


@pytest.mark.slow
def test_clean_c4_mostly_kept(shared, tmp_path):
    share, r = _kept_share(shared / "web" / "text" / "c4-en-sample-1000.jsonl.gz", tmp_path)
    print(f"C4 kept: {share:.1%}", json.dumps([(f["filter"], f["removed"]) for f in r["filters"]]))
    assert share >= 0.80


@pytest.mark.slow
def test_toxic_4chan_mostly_removed(shared, tmp_path):
    share, r = _kept_share(shared / "filters" / "paloma-4chan-val-sample.jsonl.gz", tmp_path)
    print(f"4chan removed: {1 - share:.1%}", json.dumps([(f["filter"], f["removed"]) for f in r["filters"]]))
    assert 1 - share >= 0.50
