"""Stages `data` and `tokenize`: raw files → a pretraining corpus → tokenizer and token shards.

One lm-data run makes the training corpus from the web/ files (WARC/WET pages and JSONL
documents: filtered, decontaminated against the eval/ files) and the books (Project
Gutenberg's header and footer cut, otherwise trusted: `filter = false`), deduplicated
together. The books whose file name says `heldout` get a run of their own: validation text
for validation loss and bits-per-byte, never trained on.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import lm_data
import lm_tok
from lm_pipeline.config import PipelineConfig, package_config

logger = logging.getLogger(__name__)

WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz")


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(str(p) for p in folder.iterdir() if p.name.endswith(suffixes))


def eval_files(cfg: PipelineConfig) -> list[str]:
    """The evaluation files the web text is decontaminated against."""
    return _files(cfg.source / "eval", JSONL_SUFFIXES)


def data_inputs(cfg: PipelineConfig) -> dict[str, list[dict[str, Any]]]:
    """The lm-data inputs (lm-data's own `[[inputs]]` fields) of the `corpus` and `heldout` runs."""
    web, books = cfg.source / "web", _files(cfg.source / "books", JSONL_SUFFIXES)
    held = [b for b in books if "heldout" in Path(b).name] or books[-1:]
    if not held:
        raise FileNotFoundError(f"{cfg.source / 'books'}: a held-out book is needed for validation")
    if not any("heldout" in Path(b).name for b in books):
        logger.warning("no books/*heldout* file: holding out %s for validation", held[0])
    book = {"format": "jsonl", "gutenberg": True, "filter": False,
            "max_chars": cfg.books.max_book_chars}
    corpus = [{"name": "web-warc", "format": "warc", "paths": _files(web, WARC_SUFFIXES)},
              {"name": "web-text", "format": "jsonl", "paths": _files(web, JSONL_SUFFIXES)}]
    if not any(i["paths"] for i in corpus):
        raise FileNotFoundError(f"{web}: no WARC/WET or JSONL files")
    corpus.append({"name": "books", **book, "paths": [b for b in books if b not in held]})
    return {"corpus": [i for i in corpus if i["paths"]],
            "heldout": [{"name": "heldout", **book, "paths": held}]}


def curation_config(cfg: PipelineConfig, run: str,
                    inputs: list[dict[str, Any]]) -> lm_data.CurationConfig:
    """The lm-data run `run`: the `[data]` section with the stage's inputs and outputs."""
    owned = {"inputs": inputs, "output": {"dir": str(cfg.stage_dir("data") / run)},
             "decontam": {"eval_files": eval_files(cfg)}}
    return package_config(lm_data.CurationConfig, cfg, "data", owned)


def run_data(cfg: PipelineConfig, out: Path) -> dict[str, Any]:
    files, summary = {}, {}
    for run, inputs in data_inputs(cfg).items():
        lm_data.run(curation_config(cfg, run, inputs))
        lm_data.write_report(out / run)
        report = json.loads((out / run / "report" / "report.json").read_text())
        summary[run] = {k: report[k] for k in ("records_read", "output", "excluded")}
        files[run] = [str(p) for p in sorted((out / run / "output").glob("*.jsonl.gz"))]
    corpus = {"train": files["corpus"], "heldout": files["heldout"]}
    (out / "corpus.json").write_text(json.dumps(corpus, indent=2) + "\n")
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
