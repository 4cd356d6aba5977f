"""lm-tok speed (issue 4): training, encoding and shard encoding against their peers.

    uv run python bench/tok_bench.py [--pairs 5] [--what train,encode-books,encode-c4,shards]

train:        MB/s of lm_tok.train_tokenizer against the same pipeline assembled by hand in raw
              `tokenizers`, identical settings, same text (five Gutenberg books, 16k vocab);
              the trained tokenizer.json must be identical.
encode-books: corpus MB/s of lm-tok's encoder (FastEncoder.encode_to_numpy, one thread, the
              shard workers' hot path) against `tokenizers` Tokenizer.encode_batch (its own
              thread pool), same merges, on five whole books; the ids must be identical.
encode-c4:    the same on the 1,000 web-sized C4 documents (2 KB on average).
shards:       tokens/s of `encode_corpus` (read JSONL, encode, write shards) with 2 and 1
              workers, plus CPU accounting: CPU seconds of the main process and of the
              workers, parallel efficiency = CPU / (wall x processes), load average.
Each side runs in its own process; after a warm-up pair the sides alternate A B, B A, ... for
--pairs pairs (bench/_pairs.py); the script prints the median of the per-pair ratios and the
load average.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pairs import load_average, ratios, run_rounds, spawn_json

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _jsonl_gz(path: Path) -> list[dict]:
    with gzip.open(path, "rb") as f:
        return [json.loads(line) for line in f]


def books() -> dict[str, str]:
    out = {}
    for r in _jsonl_gz(DATA / "pretrain" / "gutenberg-20-books.jsonl.gz"):
        t = r["text"]
        s, e = re.search(r"\*\*\* ?START OF[^\n]*\n", t), re.search(r"\*\*\* ?END OF", t)
        out[r["title"]] = t[s.end() if s else 0 : e.start() if e else len(t)]
    return out


def prepare(work: Path, copies: int = 4) -> None:
    """A 32k tokenizer trained on ten books; documents for encoding and training."""
    from lm_tok import TokenizerConfig, save_tokenizer, train_tokenizer

    b = list(books().values())
    cfg = TokenizerConfig(vocab_size=32768)
    save_tokenizer(train_tokenizer(b[:10], cfg), work / "tok", cfg)
    c4 = [r["text"] for r in _jsonl_gz(DATA / "web" / "text" / "c4-en-sample-1000.jsonl.gz")]
    dolma = [
        r["text"] for r in _jsonl_gz(DATA / "web" / "text" / "dolma-cc-2019-30-sample-697.jsonl.gz")
    ]
    (work / "encode-books.json").write_text(json.dumps(b[10:15]))
    (work / "encode-c4.json").write_text(json.dumps(c4))
    (work / "train.json").write_text(json.dumps(b[:5]))
    # Shard encoding is timed end to end, process start included: web and book documents,
    # `copies` copies (4: ~51 MB of plain JSONL) make it a steady-state figure.
    lines = "".join(json.dumps({"text": d}) + "\n" for d in c4 + dolma + b[10:15])
    (work / "docs4.jsonl").write_text(lines * copies)


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def side(what: str, name: str, work: Path) -> dict:
    """One timed measurement, run in a fresh process."""
    if what.startswith("encode"):
        docs = json.loads((work / f"{what}.json").read_text())
        n_bytes = sum(len(d.encode()) for d in docs)
        if name == "lm-tok":
            from lm_tok import FastEncoder

            enc = FastEncoder.from_dir(work / "tok")
            run = lambda: [enc.encode_to_numpy(d).tolist() for d in docs]  # noqa: E731
        else:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(work / "tok" / "tokenizer.json"))
            tok.encode_special_tokens = True
            run = lambda: [e.ids for e in tok.encode_batch(docs, add_special_tokens=False)]  # noqa: E731
        run()  # warm caches inside the process too
        t0 = time.perf_counter()
        ids = run()
        dt = time.perf_counter() - t0
        digest = hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]
        return {"MB/s": n_bytes / dt / 1e6, "ids": digest, "docs": len(docs), "MB": n_bytes / 1e6}
    if what == "shards":
        from lm_tok import EncodeConfig, encode_corpus

        out = Path(tempfile.mkdtemp(dir=work))
        cfg = EncodeConfig(tokenizer=work / "tok", inputs=(work / "docs4.jsonl",), output=out / "s",
                           workers=int(name), progress=False)
        cpu0 = (_cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN))
        t0 = time.perf_counter()
        m = encode_corpus(cfg)
        dt = time.perf_counter() - t0
        main = _cpu(resource.RUSAGE_SELF) - cpu0[0]
        workers = _cpu(resource.RUSAGE_CHILDREN) - cpu0[1]  # the pool's processes, reaped on exit
        return {"tokens/s": m["num_tokens"] / dt, "tokens": m["num_tokens"], "wall_s": round(dt, 2),
                "main_cpu_s": round(main, 2), "worker_cpu_s": round(workers, 2),
                "main_share": round(main / (main + workers), 3),
                "efficiency": round((main + workers) / (dt * int(name)), 2),
                "load1": os.getloadavg()[0]}
    texts = json.loads((work / "train.json").read_text())
    n_bytes = sum(len(t.encode()) for t in texts)
    t0 = time.perf_counter()
    if name == "lm-tok":
        from lm_tok import TokenizerConfig, train_tokenizer

        tok = train_tokenizer(texts, TokenizerConfig(vocab_size=16384))
    else:
        from tokenizers import (
            Regex,
            Tokenizer,
            decoders,
            models,
            pre_tokenizers,
            processors,
            trainers,
        )

        from lm_tok import SPECIAL_TOKENS, SPLIT_PATTERN

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        tok.decoder, tok.post_processor = (
            decoders.ByteLevel(),
            processors.ByteLevel(trim_offsets=False),
        )
        tok.train_from_iterator(texts, trainers.BpeTrainer(
            vocab_size=16384, min_frequency=2, special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    dt = time.perf_counter() - t0
    return {
        "MB/s": n_bytes / dt / 1e6,
        "vocab": hashlib.sha256(tok.to_str().encode()).hexdigest()[:16],
    }


SIDES = {"encode-books": ("lm-tok", "tokenizers"), "encode-c4": ("lm-tok", "tokenizers"),
         "shards": ("2", "1"), "train": ("lm-tok", "tokenizers")}
METRIC = {"encode-books": "MB/s", "encode-c4": "MB/s", "shards": "tokens/s", "train": "MB/s"}


def _spawn(what: str, name: str, work: Path) -> dict:
    return spawn_json([sys.executable, __file__, "--side", what, name, str(work)])


def compare(what: str, work: Path, pairs: int) -> None:
    a, b = SIDES[what]
    key = METRIC[what]
    res = run_rounds([a, b], pairs, lambda name: _spawn(what, name, work),
                     log=lambda line: print(f"  {what}: {line}", flush=True))
    rows = list(zip(res[a], res[b], strict=True))
    r = ratios([x[key] for x in res[a]], [x[key] for x in res[b]])
    for ra, rb in rows:
        print(f"  {what}: {a} {ra}  |  {b} {rb}")
    print(f"{what}: median {key} ratio {a} / {b} = {statistics.median(r):.2f} "
          f"(pairs: {', '.join(f'{x:.2f}' for x in r)})")
    if what == "shards":  # CPU accounting: what the design allows, whatever the machine's load
        med = lambda k, r: statistics.median(x[r][k] for x in rows)  # noqa: E731
        # Two idle cores could at best finish 2 workers' total CPU in half of it.
        bound = [
            2 * (rb["main_cpu_s"] + rb["worker_cpu_s"]) / (ra["main_cpu_s"] + ra["worker_cpu_s"])
            for ra, rb in rows
        ]
        print(
            f"shards: 2 workers: main-process CPU share {med('main_share', 0):.1%}, "
            f"parallel efficiency {med('efficiency', 0):.2f}; "
            f"1 worker: efficiency {med('efficiency', 1):.2f}; "
            "scaling two idle cores would allow (2 x CPU of 1 worker / CPU of 2) "
            f"{statistics.median(bound):.2f}"
        )
    else:
        same = {ra.get("ids", ra.get("vocab")) == rb.get("ids", rb.get("vocab")) for ra, rb in rows}
        print(f"{what}: identical output on both sides: {same == {True}}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--what", default="train,encode-books,encode-c4,shards")
    p.add_argument("--copies", type=int, default=4,
                   help="copies of the ~12.7 MB document set encoded by the shards part")
    p.add_argument("--side", nargs=3, metavar=("WHAT", "NAME", "WORK"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.side:
        what, name, work = args.side
        print(json.dumps(side(what, name, Path(work))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare(work, args.copies)
        for what in args.what.split(","):
            print(f"{what}: load average before {load_average()}", flush=True)
            compare(what, work, args.pairs)
            print(f"{what}: load average after {load_average()}", flush=True)


if __name__ == "__main__":
    main()
