r"""Extraction quality and speed of lm-data's extractors on trafilatura's annotated eval pages.

    uv run python bench/extract_quality.py \
        [--data ../shared/data/web/html/trafilatura-eval-pages.tar.gz]

Quality follows trafilatura's own evaluation: every `with` snippet found in the extraction is a true
positive (else a false negative), every `without` snippet found is a false positive. English pages
are those whose `with` snippets fastText (lid.176, as in the pipeline) labels `en`. Speed (docs/s of
`extract` alone, pages already in memory): each extractor times the same pages in its own process;
after a warm-up pair the extractors alternate A B, B A, ... for --pairs pairs (bench/_pairs.py); the
ratio is the median of the per-pair ratios. --speed-only skips the quality scores; --pages N times
the first N English pages only (a shorter run on a loaded machine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pairs import load_average, median_ratio, ratios, run_rounds

EXTRACTORS = ("trafilatura", "resiliparse")


def load_english_pages(tar_path: Path) -> list[tuple[str, list[str], list[str]]]:
    from datatrove.data import Document

    from lm_data.config import LanguageConfig
    from lm_data.filters import language_filter

    lid = language_filter(LanguageConfig(languages=[], threshold=0.0), None)
    with tarfile.open(tar_path) as tar:
        members = {m.name.split("/", 1)[-1]: m for m in tar if m.isfile()}
        gold = json.load(tar.extractfile(members["evaldata.json"]))
        pages = []
        for entry in gold.values():
            snippets = entry.get("with", []) + entry.get("without", [])
            if not entry.get("with") or not snippets:
                continue
            d = Document(text=" ".join(entry["with"]), id="x")
            lid.filter(d)
            if d.metadata["language"] != "en":
                continue
            member = members.get(f"eval/{entry['file']}") or members.get(f"cache/{entry['file']}")
            if member is None:
                continue
            raw = tar.extractfile(member).read()
            pages.append(
                (raw.decode("utf-8", errors="replace"), entry["with"], entry.get("without", []))
            )
    return pages


def make(name: str):
    from lm_data.config import ExtractConfig
    from lm_data.extraction import make_extractor

    return make_extractor(ExtractConfig(extractor=name, timeout=10))


def score(name: str, pages) -> dict:
    ex = make(name)
    tp = fn = fp = tn = 0
    for html, with_, without in pages:
        try:
            text = ex.extract(html) or ""
        except Exception:
            text = ""
        for s in with_:
            tp, fn = (tp + 1, fn) if s in text else (tp, fn + 1)
        for s in without:
            fp, tn = (fp + 1, tn) if s in text else (fp, tn + 1)
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"extractor": name, "pages": len(pages), "precision": p, "recall": r,
            "f1": 2 * p * r / max(p + r, 1e-9), "tp": tp, "fn": fn, "fp": fp, "tn": tn}


def time_one(name: str, pages_file: str) -> float:
    """docs/s of one extractor, measured in a fresh process on the pages saved in `pages_file`."""
    out = subprocess.run(
        [sys.executable, __file__, "--pages-file", pages_file, "--time-only", name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.strip().split("\n")[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--data",
        default=str(
            Path(__file__).resolve().parents[2]
            / "shared/data/web/html/trafilatura-eval-pages.tar.gz"
        ),
    )
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--time-only", choices=EXTRACTORS)
    ap.add_argument("--speed-only", action="store_true", help="skip the quality scores")
    ap.add_argument(
        "--pages", type=int, default=0, help="time only the first N English pages (0: all)"
    )
    ap.add_argument("--pages-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.time_only:
        # The timed child reads the HTML its parent selected: no tar reading or language ID here.
        pages = [(html, [], []) for html in json.loads(Path(args.pages_file).read_text())]
        ex = make(args.time_only)
        for html, _, _ in pages[:5]:
            ex.extract(html)  # warm-up
        t = time.perf_counter()
        for html, _, _ in pages:
            with contextlib.suppress(Exception):
                ex.extract(html)
        print(len(pages) / (time.perf_counter() - t))
        return
    pages = load_english_pages(Path(args.data))
    if not args.speed_only:
        for name in EXTRACTORS:
            print(json.dumps(score(name, pages)), flush=True)
    timed_pages = len(pages[: args.pages or None])
    print(f"speed: {timed_pages} pages, load average before {load_average()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        pages_file = str(Path(tmp) / "pages.json")
        Path(pages_file).write_text(
            json.dumps([html for html, _, _ in pages[: args.pages or None]])
        )
        speeds = run_rounds(list(EXTRACTORS), args.pairs, lambda n: time_one(n, pages_file))
    r = ratios(speeds["resiliparse"], speeds["trafilatura"])
    print(
        json.dumps(
            {
                n: {
                    "docs_per_s_median": round(statistics.median(v), 2),
                    "runs": [round(x, 2) for x in v],
                }
                for n, v in speeds.items()
            }
        )
    )
    print(f"resiliparse / trafilatura docs/s: median of {args.pairs} pair ratios = "
          f"{median_ratio(speeds['resiliparse'], speeds['trafilatura']):.2f}x "
          f"(pairs: {', '.join(f'{x:.2f}' for x in r)}); load average after {load_average()}")


if __name__ == "__main__":
    main()
