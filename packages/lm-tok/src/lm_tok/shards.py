"""Token shards in datatrove's tokenized format, with a manifest.json.

A shard directory holds, for i = 0, 1, ...:

    tokens_{i:05d}.ds           the token ids, little-endian uint16 (vocab <= 65536) or uint32
    tokens_{i:05d}.ds.index     the end offset (in tokens, exclusive) of every document, uint64 LE
    tokens_{i:05d}.ds.metadata  datatrove's text note: "<tokenizer>|<bytes per token>", token count
    manifest.json               dtype, ids of bos/eos/pad, counts, shard list, tokenizer hash,
                                sources
    skipped.jsonl               (only if any) every record that was not encoded, with its reason

Each document is [bos] + ids + [eos]. manifest.json is written last: its presence means
the shard set is complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import os
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lm_tok.chat import BOS, EOS, PAD
from lm_tok.config import ConfigError, EncodeConfig, check_inputs
from lm_tok.directory import load_tokenizer, tokenizer_sha256
from lm_tok.sources import Piece, SkipLog, Skipped, plan_pieces, read_piece

log = logging.getLogger(__name__)

FORMAT = "lm-tok-shards/1 (datatrove .ds + .ds.index)"
MANIFEST = "manifest.json"


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits, else uint32; always little-endian."""
    return np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")


class ShardWriter:
    """Appends whole documents to .ds files, starting a new file past `max_tokens`."""

    def __init__(
        self, directory: Path, dtype: np.dtype, max_tokens: int, tokenizer_name: str
    ) -> None:
        self.dir, self.dtype, self.max_tokens, self.name = (
            directory,
            dtype,
            max_tokens,
            tokenizer_name,
        )
        self.shards: list[dict] = []
        self._file = None
        self._ends: list[np.ndarray] = []
        self._count = 0

    def _open(self) -> None:
        path = f"tokens_{len(self.shards):05d}.ds"
        self.shards.append(
            {
                "path": path,
                "index": path + ".index",
                "num_tokens": 0,
                "num_documents": 0,
                "max_token_id": -1,
            }
        )
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
            part = tokens[start_tok:stop_tok]
            self._file.write(part.astype(self.dtype, copy=False).tobytes())
            if part.size:  # recorded here so a trainer need not scan the corpus for it
                shard = self.shards[-1]
                shard["max_token_id"] = max(shard["max_token_id"], int(part.max()))
            self._ends.append(ends[start_doc:stop] - start_tok + self._count)
            self._count += stop_tok - start_tok
            start_doc, start_tok = stop, stop_tok

    def close(self) -> list[dict]:
        self._finish()
        return self.shards


# --- encoding: each worker reads, parses and encodes its own pieces -----------------------


@dataclass(frozen=True)
class _Job:
    """What every piece is encoded with: the same in every worker."""

    tokenizer: str
    backend: str
    text_field: str
    bos: int | None
    eos: int
    dtype: np.dtype


@dataclass
class _Encoded:
    """A piece's documents as tokens in the shard dtype, with what the manifest counts."""

    tokens: np.ndarray
    lengths: np.ndarray
    num_bytes: int
    num_lines: int
    skipped: list[Skipped]


_JOB: _Job | None = None  # set once per process by _init_worker
_ENCODER = None


def _build_encoder(tokenizer_dir: str, backend: str):
    if backend == "tiktoken":
        from lm_tok.fast import FastEncoder

        enc = FastEncoder.from_dir(tokenizer_dir)
        return enc.encode_to_numpy
    tok = load_tokenizer(tokenizer_dir)
    tok.encode_special_tokens = True  # like tiktoken's encode_ordinary: text is only text
    return lambda text: np.asarray(tok.encode(text, add_special_tokens=False).ids, dtype=np.uint32)


def _use(job: _Job, encoder) -> None:
    global _JOB, _ENCODER
    _JOB, _ENCODER = job, encoder


def _init_worker(job: _Job, encoder=None) -> None:
    """A pool process: one encoding thread each, since the processes already fill the cores."""
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _use(job, encoder or _build_encoder(job.tokenizer, job.backend))


def _encode_piece(piece: Piece) -> _Encoded:
    job = _JOB
    assert job is not None and _ENCODER is not None, "_init_worker first"
    num_lines, records = read_piece(piece, job.text_field)
    head = np.array([job.bos] if job.bos is not None else [], dtype=np.uint32)
    tail = np.array([job.eos], dtype=np.uint32)
    parts, lengths, skipped, num_bytes = [], [], [], 0
    for r in records:
        if isinstance(r, Skipped):
            skipped.append(r)
            continue
        ids = _ENCODER(r.text)
        parts += [head, ids, tail]
        lengths.append(len(ids) + len(head) + 1)
        num_bytes += len(r.text) if r.text.isascii() else len(r.text.encode("utf-8"))
    # The shard dtype already here: half the bytes to send back when it is uint16.
    tokens = np.concatenate(parts, dtype=job.dtype) if parts else np.zeros(0, job.dtype)
    return _Encoded(tokens, np.asarray(lengths, dtype=np.int64), num_bytes, num_lines, skipped)


# --- in the main process: plan pieces, write results in input order ---------------------


@dataclass
class _Sources:
    """Per-file counts for the manifest, and every skipped record."""

    inputs: tuple[Path, ...]
    files: dict[str, dict] = field(default_factory=dict)
    skipped: SkipLog = field(default_factory=SkipLog)
    _lines: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for p in self.inputs:  # every input is listed, in order, even one without documents
            self._entry(str(p))

    def _entry(self, path: str) -> dict:
        return self.files.setdefault(
            path, {"path": path, "num_documents": 0, "num_bytes": 0, "skipped": 0}
        )

    def add(self, piece: Piece, res: _Encoded) -> None:
        """Count a piece's documents; number its skipped records within the whole file."""
        e = self._entry(piece.path)
        base = self._lines.get(piece.path, 0)
        for s in res.skipped:
            self.skipped.add(replace(s, line=s.line + base))
        self._lines[piece.path] = base + res.num_lines
        e["num_documents"] += len(res.lengths)
        e["num_bytes"] += res.num_bytes
        e["skipped"] += len(res.skipped)


def _start_method() -> str:
    # fork starts workers in milliseconds and hands them the encoder already built;
    # spawn re-imports everything and builds it again (about a second per worker). The
    # pool is forked before any progress bar thread exists.
    return "fork" if sys.platform == "linux" else "spawn"


def _encoded(cfg: EncodeConfig, pool) -> Iterator[tuple[Piece, _Encoded]]:
    """Encoded pieces in input order, from the pool's processes (or this one if no pool)."""
    pieces = (p for path in cfg.inputs for p in plan_pieces(path, cfg.text_field, cfg.batch_bytes))
    if pool is None:
        for piece in pieces:
            yield piece, _encode_piece(piece)
        return
    pending: deque = deque()
    for piece in pieces:
        pending.append((piece, pool.apply_async(_encode_piece, (piece,))))
        if len(pending) >= 2 * cfg.num_workers:  # bounded read-ahead: memory stays flat
            done, res = pending.popleft()
            yield done, res.get()
    while pending:
        done, res = pending.popleft()
        yield done, res.get()


def _prepare_output(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"output: {out} exists and is not an empty directory")
    out.mkdir(parents=True, exist_ok=True)


def encode_corpus(cfg: EncodeConfig) -> dict:
    """Encode every document of `cfg.inputs` into shards under `cfg.output`; returns the
    manifest."""
    check_inputs(cfg.inputs, "inputs")
    tok = load_tokenizer(cfg.tokenizer)  # fails on a bad tokenizer before any output exists
    vocab = tok.get_vocab_size(with_added_tokens=True)
    ids = {t: tok.token_to_id(t) for t in (BOS, EOS, PAD)}
    dtype = token_dtype(vocab)
    job = _Job(tokenizer=str(cfg.tokenizer), backend=cfg.backend, text_field=cfg.text_field,
               bos=ids[BOS] if cfg.add_bos else None, eos=ids[EOS], dtype=dtype)
    encoder = _build_encoder(
        job.tokenizer, job.backend
    )  # fails on a bad tokenizer.json before any output
    _prepare_output(cfg.output)
    writer = ShardWriter(cfg.output, dtype, cfg.shard_max_tokens, str(cfg.tokenizer))
    sources, t0, total_bytes = _Sources(cfg.inputs), time.perf_counter(), 0
    with contextlib.ExitStack() as stack:
        pool = None
        if cfg.num_workers > 1:
            method = _start_method()
            inherited = (
                encoder if method == "fork" else None
            )  # a forked child shares it, spawn rebuilds
            ctx = mp.get_context(method)
            pool = stack.enter_context(ctx.Pool(cfg.num_workers, _init_worker, (job, inherited)))
        else:
            _use(job, encoder)
        bar = stack.enter_context(
            tqdm(desc="encode", unit="B", unit_scale=True, disable=not cfg.progress)
        )
        for piece, res in _encoded(cfg, pool):
            writer.write(res.tokens, res.lengths)
            sources.add(piece, res)
            total_bytes += res.num_bytes
            bar.update(res.num_bytes)
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
        "max_token_id": max((s["max_token_id"] for s in shards), default=-1),
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
            f.writelines(
                json.dumps(s.as_dict(), ensure_ascii=False) + "\n" for s in sources.skipped.records
            )
        log.warning("%s (all in %s)", sources.skipped.summary(), cfg.output / "skipped.jsonl")
    (cfg.output / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


# --- reading shards ----------------------------------------------------------------------


def read_manifest(directory: str | Path) -> dict:
    """The manifest of a complete shard directory; FileNotFoundError names the missing file."""
    p = Path(directory) / MANIFEST
    if not p.is_file():
        raise FileNotFoundError(
            f"{p}: not found (not a shard directory, or encoding did not finish)"
        )
    return json.loads(p.read_text())


class ShardSet:
    """Read-only view of a shard directory: memory-mapped tokens and document boundaries."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.manifest = read_manifest(self.dir)
        dtype = np.dtype(self.manifest["dtype"]).newbyteorder("<")
        self.tokens = [
            np.memmap(self.dir / s["path"], dtype=dtype, mode="r") for s in self.manifest["shards"]
        ]
        self.ends = [
            np.fromfile(self.dir / (s["path"] + ".index"), dtype="<u8")
            for s in self.manifest["shards"]
        ]

    def __len__(self) -> int:
        return self.manifest["num_documents"]

    def documents(self) -> Iterator[np.ndarray]:
        """Every document's ids, bos and eos included, in input order."""
        for tokens, ends in zip(self.tokens, self.ends, strict=True):
            start = 0
            for end in ends.tolist():
                yield tokens[start:end]
                start = end
