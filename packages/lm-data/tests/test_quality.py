"""Filter quality on real text: clean C4 is mostly kept, toxic 4chan threads mostly removed.

The counts are deterministic (pinned datatrove, fastText model and word lists), so each filter's
removals are asserted exactly: a filter that stops working, or starts removing more, fails here.
"""

from __future__ import annotations

import json

import pytest

from lm_data import (
    CurationConfig,
    DedupConfig,
    ExtractConfig,
    InputConfig,
    OutputConfig,
    URLFilterConfig,
    run,
)
from lm_data.report import collect


def _kept_share(path, tmp_path) -> tuple[float, dict]:
    cfg = CurationConfig(
        input=InputConfig(paths=[str(path)], format="jsonl"),
        output=OutputConfig(dir=str(tmp_path / "run")),
        extract=ExtractConfig(extractor="none"),
        url_filter=URLFilterConfig(enabled=False),  # 4chan threads carry no URL
        dedup=DedupConfig(exact=False, minhash=False),
    )
    r = collect(run(cfg))
    return r["output"] / r["documents_read"], r


def _removed(r: dict) -> dict[str, int]:
    return {f["filter"]: f["removed"] for f in r["filters"]}


@pytest.mark.slow
def test_clean_c4_mostly_kept(shared, tmp_path):
    share, r = _kept_share(shared / "web" / "text" / "c4-en-sample-1000.jsonl.gz", tmp_path)
    print(f"C4 kept: {share:.1%}", json.dumps(_removed(r)))
    assert _removed(r) == {
        "language": 31,
        "gopher_repetition": 59,
        "gopher_quality": 81,
        "c4_quality": 0,
        "c4_badwords": 3,
        "fineweb_quality": 1,
    }
    assert (r["records_read"], r["output"], r["accounted"]) == (1000, 825, 1000)  # 82.5% kept


@pytest.mark.slow
def test_toxic_4chan_mostly_removed(shared, tmp_path):
    share, r = _kept_share(shared / "filters" / "paloma-4chan-val-sample.jsonl.gz", tmp_path)
    print(f"4chan removed: {1 - share:.1%}", json.dumps(_removed(r)))
    assert _removed(r) == {
        "language": 16,
        "gopher_repetition": 61,
        "gopher_quality": 27,
        "c4_quality": 1,
        "c4_badwords": 255,
        "fineweb_quality": 7,
    }
    assert (r["records_read"], r["output"], r["accounted"]) == (424, 57, 424)  # 86.6% removed
