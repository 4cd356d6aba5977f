"""lm-tok encoding speed: the tiktoken-backed shard encoder against HF `tokenizers`.

    uv run python bench/tok_encode.py [--pairs 5] [--what encode,shards,train]

encode: corpus MB/s of lm-tok's encoder (FastEncoder.encode_to_numpy, one thread, the shard
        workers' hot path) against `tokenizers` Tokenizer.encode_batch (its own thread pool)
        on the same documents and the same merges; the ids must be identical.
shards: tokens/s of `encode_corpus` (the whole path: read, encode, write) with 1 and 2 workers.
train:  MB/s of lm_tok.train_tokenizer against the same pipeline assembled by hand in raw
        `tokenizers`, with identical settings on the same text.
Each side runs in its own process, alternating A, B for --pairs pairs after a warm-up pair;
the script prints the median of the per-pair ratios.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def prepare(work: Path) -> None:
    """A 32k tokenizer trained on ten books; documents: web text plus five other books."""
    from lm_tok import TokenizerConfig, save_tokenizer, train_tokenizer

    b = list(books().values())
    cfg = TokenizerConfig(vocab_size=32768)
    save_tokenizer(train_tokenizer(b[:10], cfg), work / "tok", cfg)
    docs = [r["text"] for r in _jsonl_gz(DATA / "web" / "text" / "c4-en-sample-1000.jsonl.gz")]
    docs += [r["text"] for r in _jsonl_gz(DATA / "web" / "text" / "dolma-cc-2019-30-sample-697.jsonl.gz")]
    docs += b[10:15]
    with (work / "docs.jsonl").open("w") as f:
        f.writelines(json.dumps({"text": d}) + "\n" for d in docs)
    (work / "train.json").write_text(json.dumps(b[:5]))
    # Shard encoding is timed end to end, process start included: 4 copies (~51 MB) make
    # it a steady-state figure.
    (work / "docs4.jsonl").write_text((work / "docs.jsonl").read_text() * 4)


def _docs(work: Path) -> list[str]:
    return [json.loads(line)["text"] for line in (work / "docs.jsonl").open()]


def side(what: str, name: str, work: Path) -> dict:
    """One timed measurement, run in a fresh process."""
    if what == "encode":
        docs = _docs(work)
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
        t0 = time.perf_counter()
        m = encode_corpus(cfg)
        dt = time.perf_counter() - t0
        return {"tokens/s": m["num_tokens"] / dt, "tokens": m["num_tokens"]}
    texts = json.loads((work / "train.json").read_text())
    n_bytes = sum(len(t.encode()) for t in texts)
    t0 = time.perf_counter()
    if name == "lm-tok":
        from lm_tok import TokenizerConfig, train_tokenizer

        tok = train_tokenizer(texts, TokenizerConfig(vocab_size=16384))
    else:
        from lm_tok import SPECIAL_TOKENS, SPLIT_PATTERN
        from tokenizers import (
            Regex,
            Tokenizer,
            decoders,
            models,
            pre_tokenizers,
            processors,
            trainers,
        )

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        tok.decoder, tok.post_processor = decoders.ByteLevel(), processors.ByteLevel(trim_offsets=False)
        tok.train_from_iterator(texts, trainers.BpeTrainer(
            vocab_size=16384, min_frequency=2, special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    dt = time.perf_counter() - t0
    return {"MB/s": n_bytes / dt / 1e6, "vocab": hashlib.sha256(tok.to_str().encode()).hexdigest()[:16]}


SIDES = {"encode": ("lm-tok", "tokenizers"), "shards": ("2", "1"), "train": ("lm-tok", "tokenizers")}
METRIC = {"encode": "MB/s", "shards": "tokens/s", "train": "MB/s"}


def _spawn(what: str, name: str, work: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--side", what, name, str(work)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(what: str, work: Path, pairs: int) -> None:
    a, b = SIDES[what]
    key = METRIC[what]
    _spawn(what, a, work), _spawn(what, b, work)  # warm-up pair, not counted
    ratios, rows = [], []
    for _ in range(pairs):
        ra, rb = _spawn(what, a, work), _spawn(what, b, work)
        ratios.append(ra[key] / rb[key])
        rows.append((ra, rb))
    for ra, rb in rows:
        print(f"  {what}: {a} {ra}  |  {b} {rb}")
    print(f"{what}: median {key} ratio {a} / {b} = {statistics.median(ratios):.2f} "
          f"(pairs: {', '.join(f'{r:.2f}' for r in ratios)})")
    if what != "shards":
        same = {ra.get("ids", ra.get("vocab")) == rb.get("ids", rb.get("vocab")) for ra, rb in rows}
        print(f"{what}: identical output on both sides: {same == {True}}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--what", default="encode,shards,train")
    p.add_argument("--side", nargs=3, metavar=("WHAT", "NAME", "WORK"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.side:
        what, name, work = args.side
        print(json.dumps(side(what, name, Path(work))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare(work)
        for what in args.what.split(","):
            compare(what, work, args.pairs)


if __name__ == "__main__":
    main()
