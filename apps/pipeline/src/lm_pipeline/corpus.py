"""Stages `data` and `tokenize`: raw files → a pretraining corpus → tokenizer and token shards.

Crawl files (WARC/WET) and web text (JSONL) go through lm-data, decontaminated against the
evaluation files; public-domain books join the corpus as they are, less Project
Gutenberg's header and footer. Books whose file name says `heldout` are kept out of
training for validation loss and bits-per-byte.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lm_data
import lm_tok
from lm_pipeline.config import PipelineConfig

logger = logging.getLogger(__name__)

WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(suffixes))


def iter_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a JSONL(.gz) file; split on "\\n" only (texts may hold U+2028)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f.read().split("\n"), 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: not valid JSON: {e}") from e


def strip_gutenberg(text: str) -> str:
    """The book without Project Gutenberg's licence header and footer (if it has them)."""
    start = text.find("*** START OF")
    if start != -1:
        text = text[text.find("\n", start) + 1:]
    end = text.find("*** END OF")
    return text[:end].strip() if end != -1 else text.strip()


def _write_books(books: list[Path], out: Path, max_chars: int) -> tuple[int, int]:
    docs = chars = 0
    with gzip.open(out, "wt", encoding="utf-8") as f:
        for path in books:
            for record in iter_jsonl(path):
                if "text" not in record:
                    raise ValueError(f"{path}: record {record.get('id', '?')} has no 'text' field")
                text = strip_gutenberg(record["text"])
                text = text[:max_chars] if max_chars else text
                f.write(json.dumps({"id": record.get("id", f"book-{docs}"), "text": text}) + "\n")
                docs, chars = docs + 1, chars + len(text)
    return docs, chars


def _filter_web(cfg: PipelineConfig, files: list[Path], fmt: str, out: Path,
                eval_files: list[Path]) -> dict[str, Any]:
    """One lm-data run; returns its removal report (report.json)."""
    run = lm_data.CurationConfig(
        input=lm_data.InputConfig(paths=[str(p) for p in files], format=fmt),
        output=lm_data.OutputConfig(dir=str(out)),
        language=lm_data.LanguageConfig(languages=list(cfg.data.languages)),
        decontam=lm_data.DecontamConfig(eval_files=[str(p) for p in eval_files]),
        executor=lm_data.ExecutorConfig(workers=cfg.data.workers),
    )
    lm_data.run(run)
    lm_data.write_report(out)
    return json.loads((out / "report" / "report.json").read_text())


def run_data(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    src = cfg.source
    warcs, texts = _files(src / "web", WARC_SUFFIXES), _files(src / "web", JSONL_SUFFIXES)
    if not warcs and not texts:
        raise FileNotFoundError(f"{src / 'web'}: no WARC/WET or JSONL files")
    eval_files = _files(src / "eval", JSONL_SUFFIXES)
    train, heldout, reports = [], [], {}
    for name, files, fmt in (("web-warc", warcs, "warc"), ("web-text", texts, "jsonl")):
        if files:
            reports[name] = _filter_web(cfg, files, fmt, out / name, eval_files)
            train += sorted((out / name / "output").glob("*.jsonl.gz"))
    books = _files(src / "books", JSONL_SUFFIXES)
    held = [b for b in books if "heldout" in b.name] or books[-1:]
    if held == books[-1:] and books:
        logger.warning("no books/*heldout* file: holding out %s for validation", held[0].name)
    summary: dict[str, Any] = {"lm_data": {k: r.get("totals", {}) for k, r in reports.items()}}
    if [b for b in books if b not in held]:
        summary["books_train"] = _write_books([b for b in books if b not in held],
                                              out / "books-train.jsonl.gz", cfg.data.max_book_chars)
        train.append(out / "books-train.jsonl.gz")
    if not held:
        raise FileNotFoundError(f"{src / 'books'}: a held-out book is needed for validation")
    summary["books_heldout"] = _write_books(held, out / "heldout.jsonl.gz", cfg.data.max_book_chars)
    heldout.append(out / "heldout.jsonl.gz")
    corpus = {"train": [str(p) for p in train], "heldout": [str(p) for p in heldout]}
    (out / "corpus.json").write_text(json.dumps(corpus, indent=2) + "\n")
    summary["corpus_files"] = len(train)
    return summary


def run_tokenize(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    corpus = json.loads((cfg.run_dir / "data" / "corpus.json").read_text())
    train = tuple(Path(p) for p in corpus["train"])
    tok_cfg = lm_tok.TokenizerConfig(vocab_size=cfg.tokenize.vocab_size)
    tokenizer = lm_tok.train_tokenizer(list(train), tok_cfg, progress=True)
    lm_tok.save_tokenizer(tokenizer, out / "tokenizer", tok_cfg)
    manifests = {}
    for split, inputs in (("train", train), ("val", tuple(Path(p) for p in corpus["heldout"]))):
        manifests[split] = lm_tok.encode_corpus(lm_tok.EncodeConfig(
            tokenizer=out / "tokenizer", inputs=inputs, output=out / f"shards-{split}",
            workers=cfg.tokenize.workers))
    train_m = manifests["train"]
    return {
        "vocab_size": tokenizer.get_vocab_size(),
        "train_tokens": train_m["num_tokens"], "train_documents": train_m["num_documents"],
        "train_bytes": train_m["num_bytes"],
        "bytes_per_token": round(train_m["num_bytes"] / max(train_m["num_tokens"], 1), 3),
        "val_tokens": manifests["val"]["num_tokens"], "val_bytes": manifests["val"]["num_bytes"],
    }
