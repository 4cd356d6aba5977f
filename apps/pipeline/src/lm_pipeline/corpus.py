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
from pathlib import Path
from typing import Any

import lm_data
import lm_tok
from lm_core.jsonl import iter_jsonl
from lm_pipeline.config import PipelineConfig, package_config

logger = logging.getLogger(__name__)

WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(suffixes))


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
            for _, record in iter_jsonl(path):
                if "text" not in record:
                    raise ValueError(f"{path}: record {record.get('id', '?')} has no 'text' field")
                text = strip_gutenberg(record["text"])
                text = text[:max_chars] if max_chars else text
                f.write(json.dumps({"id": record.get("id", f"book-{docs}"), "text": text}) + "\n")
                docs, chars = docs + 1, chars + len(text)
    return docs, chars


def curation_config(cfg: PipelineConfig, files: list[Path], fmt: str, out: Path,
                    eval_files: list[Path]) -> lm_data.CurationConfig:
    """The lm-data run over `files`: the `[data]` section with the stage's inputs and outputs."""
    owned = {"input": {"paths": [str(p) for p in files], "format": fmt},
             "output": {"dir": str(out)},
             "decontam": {"eval_files": [str(p) for p in eval_files]}}
    return package_config(lm_data.CurationConfig, cfg, "data", owned)


def _filter_web(cfg: PipelineConfig, files: list[Path], fmt: str, out: Path,
                eval_files: list[Path]) -> dict[str, Any]:
    """One lm-data run; returns its removal report (report.json)."""
    lm_data.run(curation_config(cfg, files, fmt, out, eval_files))
    lm_data.write_report(out)
    return json.loads((out / "report" / "report.json").read_text())


def web_runs(cfg: PipelineConfig) -> list[tuple[str, list[Path], str]]:
    """(output folder, files, lm-data input format) of each lm-data run over the web/ files."""
    web = cfg.source / "web"
    runs = [("web-warc", _files(web, WARC_SUFFIXES), "warc"),
            ("web-text", _files(web, JSONL_SUFFIXES), "jsonl")]
    if not any(files for _, files, _ in runs):
        raise FileNotFoundError(f"{web}: no WARC/WET or JSONL files")
    return [run for run in runs if run[1]]


def eval_files(cfg: PipelineConfig) -> list[Path]:
    """The evaluation files the web text is decontaminated against."""
    return _files(cfg.source / "eval", JSONL_SUFFIXES)


def heldout_file(cfg: PipelineConfig) -> Path:
    """The held-out book(s): validation loss and bits-per-byte, never trained on."""
    return cfg.stage_dir("data") / "heldout.jsonl.gz"


def run_data(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    src = cfg.source
    train, heldout, reports = [], [], {}
    for name, files, fmt in web_runs(cfg):
        reports[name] = _filter_web(cfg, files, fmt, out / name, eval_files(cfg))
        train += sorted((out / name / "output").glob("*.jsonl.gz"))
    books = _files(src / "books", JSONL_SUFFIXES)
    held = [b for b in books if "heldout" in b.name] or books[-1:]
    if held == books[-1:] and books:
        logger.warning("no books/*heldout* file: holding out %s for validation", held[0].name)
    summary: dict[str, Any] = {"lm_data": {k: r.get("totals", {}) for k, r in reports.items()}}
    if [b for b in books if b not in held]:
        summary["books_train"] = _write_books([b for b in books if b not in held],
                                              out / "books-train.jsonl.gz",
                                              cfg.books.max_book_chars)
        train.append(out / "books-train.jsonl.gz")
    if not held:
        raise FileNotFoundError(f"{src / 'books'}: a held-out book is needed for validation")
    summary["books_heldout"] = _write_books(held, heldout_file(cfg), cfg.books.max_book_chars)
    heldout.append(heldout_file(cfg))
    corpus = {"train": [str(p) for p in train], "heldout": [str(p) for p in heldout]}
    (out / "corpus.json").write_text(json.dumps(corpus, indent=2) + "\n")
    summary["corpus_files"] = len(train)
    return summary


def tokenizer_config(cfg: PipelineConfig, inputs: list[Path]) -> lm_tok.TokenizerTrainConfig:
    """`lm-tok train` on the corpus: the `[tokenizer]` section with the stage's paths."""
    owned = {"inputs": [str(p) for p in inputs],
             "output": str(cfg.stage_dir("tokenize") / "tokenizer")}
    return package_config(lm_tok.TokenizerTrainConfig, cfg, "tokenizer", owned)


def encode_config(cfg: PipelineConfig, inputs: list[Path], split: str) -> lm_tok.EncodeConfig:
    """`lm-tok encode` of one split: the `[encode]` section with the stage's paths."""
    out = cfg.stage_dir("tokenize")
    owned = {"tokenizer": str(out / "tokenizer"), "inputs": [str(p) for p in inputs],
             "output": str(out / f"shards-{split}")}
    return package_config(lm_tok.EncodeConfig, cfg, "encode", owned)


def run_tokenize(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    corpus = json.loads((cfg.stage_dir("data") / "corpus.json").read_text())
    splits = {split: [Path(p) for p in corpus[key]]
              for split, key in (("train", "train"), ("val", "heldout"))}
    tok_cfg = tokenizer_config(cfg, splits["train"])
    tokenizer = lm_tok.train_tokenizer(list(tok_cfg.inputs), tok_cfg.tokenizer,
                                       text_field=tok_cfg.text_field, max_bytes=tok_cfg.max_bytes,
                                       progress=tok_cfg.progress)
    lm_tok.save_tokenizer(tokenizer, tok_cfg.output, tok_cfg.tokenizer)
    train, val = (lm_tok.encode_corpus(encode_config(cfg, files, split))
                  for split, files in splits.items())
    return {
        "vocab_size": tokenizer.get_vocab_size(),
        "train_tokens": train["num_tokens"], "train_documents": train["num_documents"],
        "train_bytes": train["num_bytes"],
        "bytes_per_token": round(train["num_bytes"] / max(train["num_tokens"], 1), 3),
        "val_tokens": val["num_tokens"], "val_bytes": val["num_bytes"],
    }
