"""Extraction: each failed page has a reason; the extractor's start-up is not a page's time."""

from __future__ import annotations

import time

from datatrove.data import Document
from datatrove.pipeline.extractors.base import BaseExtractor

from lm_data.extraction import Extraction


class SlowStart(BaseExtractor):
    """Takes `startup` seconds to warm up (as importing trafilatura does on a loaded machine),
    then extracts at once; `hang` pages never finish."""

    name = "slow start"

    def __init__(self, timeout: float, startup: float) -> None:
        super().__init__(timeout)
        self.startup = startup

    def extract(self, text: str) -> str:
        if text == "":  # datatrove's sandbox warms the extractor up on an empty text
            time.sleep(self.startup)
        if text == "hang":
            time.sleep(60)
        return text.upper()


def _page(text: str, i: int) -> Document:
    return Document(text=text, id=str(i), metadata={"content_type": "text/html"})


def test_a_slow_start_does_not_time_out_the_pages():
    # Before: the start (1.5 s) was held to the page timeout (0.5 s): every page timed out,
    # each restart of the process starting the same race again.
    step = Extraction(SlowStart(timeout=0.5, startup=1.5))
    pages = [_page(t, i) for i, t in enumerate(["a", "hang", "b", "c"])]
    kept = list(step.run(iter(pages)))
    assert [d.text for d in kept] == ["A", "B", "C"]
    assert step.stats["dropped_timeout"].total == 1
