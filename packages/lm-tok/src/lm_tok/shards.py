"""Token shards in datatrove's tokenized format, with a manifest.json.

A shard directory holds, for i = 0, 1, ...:

    tokens_{i:05d}.ds           the token ids, little-endian uint16 (vocab <= 65536) or uint32
    tokens_{i:05d}.ds.index     the end offset (in tokens, exclusive) of every document, uint64 LE
    tokens_{i:05d}.ds.metadata  datatrove's text note: "<tokenizer>|<bytes per token>", token count
    manifest.json               dtype, ids of bos/eos/pad, counts, shard list, tokenizer hash, sources
    skipped.jsonl               (only if any) every record that was not encoded, with its reason

Each document is [bos] + ids + [eos]. manifest.json is written last: its presence means
the shard set is complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lm_tok.chat import BOS, EOS, PAD
from lm_tok.config import EncodeConfig, check_inputs
from lm_tok.directory import load_tokenizer, tokenizer_sha256
from lm_tok.sources import Record, SkipLog, Skipped, read_records

log = logging.getLogger(__name__)

FORMAT = "lm-tok-shards/1 (datatrove .ds + .ds.index)"
MANIFEST = "manifest.json"


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits, else uint32; always little-endian."""
    return np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")


class ShardWriter:
    """Appends whole documents to .ds files, starting a new file past `max_tokens`."""

    def __init__(self, directory: Path, dtype: np.dtype, max_tokens: int, tokenizer_name: str) -> None:
        self.dir, self.dtype, self.max_tokens, self.name = directory, dtype, max_tokens, tokenizer_name
        self.shards: list[dict] = []
        self._file = None
        self._ends: list[np.ndarray] = []
        self._count = 0

    def _open(self) -> None:
        path = f"tokens_{len(self.shards):05d}.ds"
        self.shards.append({"path": path, "index": path + ".index", "num_tokens": 0, "num_documents": 0})
        self._file = (self.dir / path).open("wb")
        self._ends, self._count = [], 0

    def _finish(self) -> None:
        if self._file is None:
            return
        self._file.close()
        ends = np.concatenate(self._ends).astype("<u8") if self._ends else np.zeros(0, "<u8")
        shard = self.shards[-1]
        ends.tofile(self.dir / shard["index"])
        shard.update(num_tokens=self._count, num_documents=int(ends.size))
        meta = f"{self.name}|{self.dtype.itemsize}\n{self._count}\n{self._count / 1e6:.2f}M"
        (self.dir / (shard["path"] + ".metadata")).write_text(meta)
        self._file = None

    def write(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Write a batch of documents: `tokens` concatenated, `lengths` one per document."""
        ends = np.cumsum(lengths, dtype=np.int64)
        start_doc, start_tok = 0, 0
        while start_doc < len(lengths):
            if self._file is None:
                self._open()
            room = self.max_tokens - self._count
            stop = int(np.searchsorted(ends, start_tok + room, side="right"))
            if stop == start_doc:  # the next document does not fit: never split one across shards
                if self._count:
                    self._finish()
                    continue
                stop = start_doc + 1  # alone in a fresh shard, however long
            stop_tok = int(ends[stop - 1])
            self._file.write(tokens[start_tok:stop_tok].astype(self.dtype, copy=False).tobytes())
            self._ends.append(ends[start_doc:stop] - start_tok + self._count)
            self._count += stop_tok - start_tok
            start_doc, start_tok = stop, stop_tok

    def close(self) -> list[dict]:
        self._finish()
        return self.shards


# --- encoding, in worker processes -----------------------------------------------------

_ENCODER = None  # set once per worker by _init_worker


@dataclass
class _Frame:
    """The ids that wrap every document."""

    bos: int | None
    eos: int


def _build_encoder(tokenizer_dir: str, backend: str):
    if backend == "tiktoken":
        from lm_tok.fast import FastEncoder

        enc = FastEncoder.from_dir(tokenizer_dir)
        return enc.encode_to_numpy
    tok = load_tokenizer(tokenizer_dir)
    tok.encode_special_tokens = True  # like tiktoken's encode_ordinary: text is only text
    return lambda text: np.asarray(tok.encode(text, add_special_tokens=False).ids, dtype=np.uint32)


def _init_worker(tokenizer_dir: str, backend: str) -> None:
    global _ENCODER
    _ENCODER = _build_encoder(tokenizer_dir, backend)


def _encode_batch(texts: list[str], frame: _Frame) -> tuple[np.ndarray, np.ndarray]:
    parts: list[np.ndarray] = []
    head = np.array([frame.bos] if frame.bos is not None else [], dtype=np.uint32)
    tail = np.array([frame.eos], dtype=np.uint32)
    lengths = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        ids = _ENCODER(text)
        parts += [head, ids, tail]
        lengths[i] = len(ids) + len(head) + 1
    return np.concatenate(parts), lengths


# --- reading, in the main process --------------------------------------------------------


@dataclass
class _Sources:
    """Per-file counts for the manifest, and every skipped record."""

    files: dict[str, dict] = field(default_factory=dict)
    skipped: SkipLog = field(default_factory=SkipLog)

    def entry(self, path: str) -> dict:
        return self.files.setdefault(path, {"path": path, "num_documents": 0, "num_bytes": 0, "skipped": 0})


def _batches(cfg: EncodeConfig, sources: _Sources) -> Iterator[tuple[list[str], int]]:
    """Lists of texts of about `batch_bytes` UTF-8 bytes, with their byte count."""
    batch, size = [], 0
    for path in cfg.inputs:
        entry = sources.entry(str(path))
        for r in read_records(path, cfg.text_field, whole_text_files=True):
            if isinstance(r, Skipped):
                sources.skipped.add(r)
                entry["skipped"] += 1
                continue
            assert isinstance(r, Record)
            n = len(r.text) if r.text.isascii() else len(r.text.encode("utf-8"))
            entry["num_documents"] += 1
            entry["num_bytes"] += n
            batch.append(r.text)
            size += n
            if size >= cfg.batch_bytes:
                yield batch, size
                batch, size = [], 0
    if batch:
        yield batch, size


def _start_method() -> str:
    # fork starts workers in milliseconds; spawn re-imports everything (about a second per
    # worker), which a small corpus never earns back. The pool is forked before any progress
    # bar thread exists, and `tokenizers` disables its own thread pool in forked children.
    return "fork" if sys.platform == "linux" else "spawn"


def _encoded(cfg: EncodeConfig, frame: _Frame, sources: _Sources, pool) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Encoded batches in input order, from the pool's processes (or this one if no pool)."""
    if pool is None:
        _init_worker(str(cfg.tokenizer), cfg.backend)
        for texts, size in _batches(cfg, sources):
            yield (*_encode_batch(texts, frame), size)
        return
    pending: deque = deque()
    for texts, size in _batches(cfg, sources):
        pending.append((pool.apply_async(_encode_batch, (texts, frame)), size))
        if len(pending) >= 2 * cfg.num_workers:  # bounded read-ahead: memory stays flat
            res, n = pending.popleft()
            yield (*res.get(), n)
    while pending:
        res, n = pending.popleft()
        yield (*res.get(), n)


def _prepare_output(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"output: {out} exists and is not an empty directory")
    out.mkdir(parents=True, exist_ok=True)


def encode_corpus(cfg: EncodeConfig) -> dict:
    """Encode every document of `cfg.inputs` into shards under `cfg.output`; returns the manifest."""
    check_inputs(cfg.inputs, "inputs")
    tok = load_tokenizer(cfg.tokenizer)  # fails on a bad tokenizer before any output exists
    if cfg.backend == "tiktoken":
        _build_encoder(str(cfg.tokenizer), "tiktoken")
    _prepare_output(cfg.output)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    ids = {t: tok.token_to_id(t) for t in (BOS, EOS, PAD)}
    frame = _Frame(bos=ids[BOS] if cfg.add_bos else None, eos=ids[EOS])
    dtype = token_dtype(vocab)
    writer = ShardWriter(cfg.output, dtype, cfg.shard_max_tokens, str(cfg.tokenizer))
    sources, t0, total_bytes = _Sources(), time.perf_counter(), 0
    with contextlib.ExitStack() as stack:
        pool = None
        if cfg.num_workers > 1:
            ctx = mp.get_context(_start_method())
            pool = stack.enter_context(ctx.Pool(cfg.num_workers, _init_worker, (str(cfg.tokenizer), cfg.backend)))
        bar = stack.enter_context(tqdm(desc="encode", unit="B", unit_scale=True, disable=not cfg.progress))
        for tokens, lengths, size in _encoded(cfg, frame, sources, pool):
            writer.write(tokens, lengths)
            total_bytes += size
            bar.update(size)
    shards = writer.close()
    seconds = time.perf_counter() - t0
    manifest = {
        "format": FORMAT,
        "dtype": dtype.name,
        "vocab_size": vocab,
        "bos_id": ids[BOS],
        "eos_id": ids[EOS],
        "pad_id": ids[PAD],
        "add_bos": cfg.add_bos,
        "num_tokens": sum(s["num_tokens"] for s in shards),
        "num_documents": sum(s["num_documents"] for s in shards),
        "num_bytes": total_bytes,
        "shards": shards,
        "tokenizer_sha256": tokenizer_sha256(cfg.tokenizer),
        "tokenizer": str(cfg.tokenizer),
        "sources": list(sources.files.values()),
        "skipped": len(sources.skipped),
        "encoder": cfg.backend,
        "workers": cfg.num_workers,
        "seconds": round(seconds, 3),
    }
    if sources.skipped:
        with (cfg.output / "skipped.jsonl").open("w") as f:
            f.writelines(json.dumps(s.as_dict(), ensure_ascii=False) + "\n" for s in sources.skipped.records)
        log.warning("%s (all in %s)", sources.skipped.summary(), cfg.output / "skipped.jsonl")
    (cfg.output / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


# --- reading shards ----------------------------------------------------------------------


def read_manifest(directory: str | Path) -> dict:
    """The manifest of a complete shard directory; FileNotFoundError names the missing file."""
    p = Path(directory) / MANIFEST
    if not p.is_file():
        raise FileNotFoundError(f"{p}: not found (not a shard directory, or encoding did not finish)")
    return json.loads(p.read_text())


class ShardSet:
    """Read-only view of a shard directory: memory-mapped tokens and document boundaries."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.manifest = read_manifest(self.dir)
        dtype = np.dtype(self.manifest["dtype"]).newbyteorder("<")
        self.tokens = [np.memmap(self.dir / s["path"], dtype=dtype, mode="r") for s in self.manifest["shards"]]
        self.ends = [np.fromfile(self.dir / (s["path"] + ".index"), dtype="<u8") for s in self.manifest["shards"]]

    def __len__(self) -> int:
        return self.manifest["num_documents"]

    def documents(self) -> Iterator[np.ndarray]:
        """Every document's ids, bos and eos included, in input order."""
        for tokens, ends in zip(self.tokens, self.ends, strict=True):
            start = 0
            for end in ends.tolist():
                yield tokens[start:end]
                start = end
