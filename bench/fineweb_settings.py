"""lm-data's default quality settings against FineWeb's, on clean C4 and toxic 4chan text.

Counts, not timings (the filters are deterministic, so every run prints the same numbers):

1. The whole filter chain (language, Gopher repetition/quality, C4, bad words, FineWeb; URL
   filter off since the 4chan threads carry no URL, no extraction, no dedup), as in
   packages/lm-data/tests/test_quality.py, with lm-data's defaults and with FineWeb's settings
   (`gopher_alpha_words="tokens"`, `c4_min_sentences=5`): share of C4 kept, of 4chan removed.
2. Each departure alone on the 1,000 raw C4 documents: how many documents Gopher's "80% of
   words contain a letter" rule removes counted over datatrove's spaCy tokens and over
   whitespace words, and how many C4's sentence rule removes at 5 and at 3 sentences.
3. fastText lid.176 (the compressed .ftz) English scores on C4: median, 5th percentile, how many
   fall under the 0.65 threshold and how many of those a 0.5 threshold would keep.

    uv run python bench/fineweb_settings.py
"""

from __future__ import annotations

import gzip
import json
import statistics
import tempfile
from collections import Counter
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
C4 = SHARED / "web" / "text" / "c4-en-sample-1000.jsonl.gz"
FOURCHAN = SHARED / "filters" / "paloma-4chan-val-sample.jsonl.gz"
SETTINGS = {
    "lm-data defaults": {},
    "FineWeb settings": {"gopher_alpha_words": "tokens", "c4_min_sentences": 5},
}


def chain(path: Path, quality: dict) -> dict:
    """Kept share and per-filter removals of the whole filter chain over a JSONL(.gz) file."""
    from lm_data import (
        CurationConfig,
        DedupConfig,
        ExtractConfig,
        InputConfig,
        OutputConfig,
        QualityConfig,
        URLFilterConfig,
        run,
    )
    from lm_data.report import collect

    with tempfile.TemporaryDirectory() as tmp:
        cfg = CurationConfig(
            input=InputConfig(paths=[str(path)], format="jsonl"),
            output=OutputConfig(dir=str(Path(tmp) / "run")),
            extract=ExtractConfig(extractor="none"),
            url_filter=URLFilterConfig(enabled=False),
            quality=QualityConfig(**quality),
            dedup=DedupConfig(exact=False, minhash=False),
        )
        r = collect(run(cfg))
    return {"read": r["documents_read"], "kept": r["output"],
            "removed_by": {f["filter"]: f["removed"] for f in r["filters"]}}


def _docs(path: Path):
    from datatrove.data import Document

    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [Document(text=json.loads(line)["text"], id=str(i)) for i, line in enumerate(f)]


def _reasons(flt, docs) -> Counter:
    out = Counter()
    for d in docs:
        result = flt.filter(d)
        if result is not True:
            out[result[1] if isinstance(result, tuple) else "removed"] += 1
    return out


def departures(docs) -> dict:
    """Each departure from FineWeb measured alone on raw documents."""
    from datatrove.pipeline.filters import C4QualityFilter, GopherQualityFilter

    from lm_data.filters import WordsGopherQualityFilter

    alpha = "gopher_below_alpha_threshold"
    return {
        "gopher_alpha_rule_removes (tokens)": _reasons(GopherQualityFilter(), docs)[alpha],
        "gopher_alpha_rule_removes (whitespace words)": _reasons(WordsGopherQualityFilter(), docs)[
            alpha
        ],
        "c4_too_few_sentences (min 5)": _reasons(
            C4QualityFilter(filter_no_terminal_punct=False, min_num_sentences=5), docs
        )["too_few_sentences"],
        "c4_too_few_sentences (min 3)": _reasons(
            C4QualityFilter(filter_no_terminal_punct=False, min_num_sentences=3), docs
        )["too_few_sentences"],
    }


def english_scores(docs) -> dict:
    """lid.176.ftz English scores: the percentiles and the documents near the 0.65 threshold."""
    from lm_data.filters import PackagedFT176LID

    lid = PackagedFT176LID(["en"])
    scores = sorted(lid.predict(d)[1]["en"] for d in docs)
    n = len(scores)
    return {"documents": n, "median": round(statistics.median(scores), 3),
            "p5": round(scores[int(0.05 * (n - 1))], 3),
            "under_0.65": sum(s <= 0.65 for s in scores),
            "kept_by_0.5_of_those": sum(0.5 < s <= 0.65 for s in scores)}


def main() -> None:
    for name, quality in SETTINGS.items():
        c4, chan = chain(C4, quality), chain(FOURCHAN, quality)
        print(
            json.dumps(
                {
                    "settings": name,
                    "quality": quality,
                    "c4_kept": f"{c4['kept']}/{c4['read']} = {c4['kept'] / c4['read']:.1%}",
                    "4chan_removed": f"{chan['read'] - chan['kept']}/{chan['read']} = "
                    f"{1 - chan['kept'] / chan['read']:.1%}",
                    "c4_removed_by": c4["removed_by"],
                    "4chan_removed_by": chan["removed_by"],
                }
            ),
            flush=True,
        )
    docs = _docs(C4)
    print(json.dumps({"c4_raw_departures_alone": departures(docs)}), flush=True)
    print(json.dumps({"c4_english_scores": english_scores(docs)}), flush=True)


if __name__ == "__main__":
    main()
