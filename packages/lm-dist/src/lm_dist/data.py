"""Token shards (written by lm-tok) to fixed-length training batches.

The shards of a directory are read through `np.memmap` as one token stream (documents are
already separated by eos), cut into windows of seq_len + 1 tokens that overlap by one (the
inputs and their next-token targets). Each epoch visits the windows in an order drawn
from the seed, and step k takes windows [k*G, (k+1)*G) of that endless sequence, G being
the global batch; data-parallel rank r takes its contiguous slice of those. The position
is one integer, so a resumed run continues with exactly the next batch, in any layout
that keeps the global batch (and still deterministically if it changes).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

_DTYPES = {"uint16": np.uint16, "uint32": np.uint32}
_REQUIRED = ("format", "dtype", "vocab_size", "bos_id", "eos_id", "pad_id", "num_tokens",
             "num_documents", "shards", "tokenizer_sha256", "sources")


@dataclass(kw_only=True)
class ShardInfo:
    path: Path
    num_tokens: int


class TokenShards:
    """A manifest-described directory of token shards, validated, memory-mapped lazily."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        manifest_path = self.directory / "manifest.json"
        if not manifest_path.is_file():
            raise FileNotFoundError(
                f"{manifest_path} not found (is {self.directory} a token shard directory?)"
            )
        try:
            self.manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{manifest_path}: not valid JSON: {e}") from e
        self.manifest_path = manifest_path
        missing = [k for k in _REQUIRED if k not in self.manifest]
        if missing:
            raise ValueError(f"{manifest_path}: missing field(s) {missing}")
        dtype = self.manifest["dtype"]
        if dtype not in _DTYPES:
            raise ValueError(
                f"{manifest_path}: field 'dtype' is {dtype!r}; expected uint16 or uint32"
            )
        self.dtype = np.dtype(_DTYPES[dtype]).newbyteorder("<")
        self.vocab_size = int(self.manifest["vocab_size"])
        self.eos_id = int(self.manifest["eos_id"])
        self.shards = self._read_shards()
        total = sum(s.num_tokens for s in self.shards)
        if total != self.manifest["num_tokens"]:
            raise ValueError(
                f"{manifest_path}: field 'num_tokens' is {self.manifest['num_tokens']} "
                f"but the shards hold {total}"
            )
        self.num_tokens = total
        self._maps: list[np.memmap] | None = None
        self._offsets = np.cumsum([0] + [s.num_tokens for s in self.shards])

    def _read_shards(self) -> list[ShardInfo]:
        entries = self.manifest["shards"]
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{self.manifest_path}: field 'shards' must be a non-empty list")
        shards = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or "path" not in entry or "num_tokens" not in entry:
                raise ValueError(f"{self.manifest_path}: shards[{i}] needs 'path' and 'num_tokens'")
            path = self.directory / entry["path"]
            if not path.is_file():
                raise FileNotFoundError(f"{path} (shards[{i}] of {self.manifest_path}) not found")
            size = path.stat().st_size
            expected = int(entry["num_tokens"]) * self.dtype.itemsize
            if size != expected:
                raise ValueError(f"{path}: {size} bytes, but shards[{i}].num_tokens="
                                 f"{entry['num_tokens']} of {self.dtype.name} needs {expected}")
            shards.append(ShardInfo(path=path, num_tokens=int(entry["num_tokens"])))
        return shards

    def check_vocab(self, model_vocab_size: int, *, max_token_id: int | None = None) -> None:
        """Fail before training when the tokenizer's vocabulary, or the largest token id if
        given, falls outside the model's embedding."""
        if self.vocab_size > model_vocab_size:
            raise ValueError(f"{self.manifest_path}: vocab_size {self.vocab_size} exceeds the "
                             f"model's vocab_size {model_vocab_size}")
        if max_token_id is not None and max_token_id >= model_vocab_size:
            raise ValueError(f"{self.directory}: token id {max_token_id} >= the model's "
                             f"vocab_size {model_vocab_size}")

    @property
    def recorded_max_token_id(self) -> int | None:
        """The largest token id as lm-tok recorded it in the manifest (None in older ones)."""
        value = self.manifest.get("max_token_id")
        return None if value is None else int(value)

    def scan_max_token_id(self, *, part: int = 0, parts: int = 1) -> int:
        """The largest token id in shards part, part + parts, ... (-1 if none): ranks split a
        scan of a corpus whose manifest does not record it."""
        top = -1
        for tokens in self.maps[part::parts]:
            chunk = 1 << 24
            for start in range(0, len(tokens), chunk):
                top = max(top, int(tokens[start:start + chunk].max()))
        return top

    @property
    def maps(self) -> list[np.memmap]:
        if self._maps is None:
            self._maps = [np.memmap(s.path, dtype=self.dtype, mode="r") for s in self.shards]
        return self._maps

    def read(self, start: int, length: int) -> np.ndarray:
        """Tokens [start, start+length) of the concatenated stream, as int64."""
        out = np.empty(length, dtype=np.int64)
        shard = int(np.searchsorted(self._offsets, start, side="right")) - 1
        filled = 0
        while filled < length:
            local = start + filled - self._offsets[shard]
            take = min(length - filled, self.shards[shard].num_tokens - local)
            out[filled:filled + take] = self.maps[shard][local:local + take]
            filled += take
            shard += 1
        return out


class TokenLoader:
    """Batches of (inputs, targets), each (batch_size, seq_len) int64, for one dp rank.

    `state_dict()` is the number of sequences the whole data-parallel group has consumed;
    `load_state_dict()` restores it, so the next batch is the one an uninterrupted run
    would have drawn.
    """

    def __init__(self, shards: TokenShards, *, seq_len: int, batch_size: int, dp_rank: int = 0,
                 dp_size: int = 1, seed: int = 0, shuffle: bool = True) -> None:
        if not 0 <= dp_rank < dp_size:
            raise ValueError(f"dp_rank {dp_rank} outside [0, {dp_size})")
        self.shards, self.seq_len, self.batch_size = shards, seq_len, batch_size
        self.dp_rank, self.dp_size, self.seed, self.shuffle = dp_rank, dp_size, seed, shuffle
        self.num_windows = (shards.num_tokens - 1) // seq_len
        if self.num_windows < self.global_batch:
            raise ValueError(
                f"{shards.directory}: {shards.num_tokens} tokens make {self.num_windows} sequences "
                f"of {seq_len}, fewer than one global batch of {self.global_batch}")
        self.consumed = 0
        self._order_epoch = -1
        self._order = np.arange(self.num_windows)

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.dp_size

    def _window(self, index: int) -> int:
        epoch, pos = divmod(index, self.num_windows)
        if not self.shuffle:
            return pos
        if epoch != self._order_epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._order, self._order_epoch = rng.permutation(self.num_windows), epoch
        return int(self._order[pos])

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        first = self.consumed + self.dp_rank * self.batch_size
        rows = [self.shards.read(self._window(first + i) * self.seq_len, self.seq_len + 1)
                for i in range(self.batch_size)]
        self.consumed += self.global_batch
        batch = torch.from_numpy(np.stack(rows))
        return batch[:, :-1], batch[:, 1:]

    def __iter__(self) -> TokenLoader:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.next_batch()

    @property
    def epoch(self) -> float:
        return self.consumed / self.num_windows

    def state_dict(self) -> dict[str, int]:
        return {"consumed": self.consumed, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state.get("seed", self.seed) != self.seed:
            logger.warning("data seed changed from %s to %s on resume: the order differs",
                           state["seed"], self.seed)
        self.consumed = int(state["consumed"])


class Prefetcher:
    """A `TokenLoader` whose next batch is assembled in a background thread (into pinned
    memory for CUDA, then copied without blocking) while the current step computes.

    Its state is the position after the last batch handed out, not after the one being
    prepared, so a checkpoint resumes at exactly the next batch.
    """

    def __init__(self, loader: TokenLoader, device: torch.device, *, depth: int = 2) -> None:
        self.loader, self.device = loader, device
        self.consumed = loader.consumed
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _produce(self) -> None:
        pin = self.device.type == "cuda"
        try:
            while not self._stop.is_set():
                inputs, targets = self.loader.next_batch()
                if pin:
                    inputs, targets = inputs.pin_memory(), targets.pin_memory()
                item = (inputs, targets, self.loader.consumed)
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as e:  # handed to the training thread, which raises it
            self._queue.put(e)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (inputs, targets), already on the device (the copy may still be in flight
        on CUDA; kernels queued after it wait for it)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._produce, name="batch-prefetch",
                                            daemon=True)
            self._thread.start()
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        inputs, targets, self.consumed = item
        return (inputs.to(self.device, non_blocking=True),
                targets.to(self.device, non_blocking=True))

    def close(self) -> None:
        """Stop the background thread (batches it prepared are dropped, not consumed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def epoch(self) -> float:
        return self.consumed / self.loader.num_windows

    def state_dict(self) -> dict[str, int]:
        return {"consumed": self.consumed, "seed": self.loader.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if self._thread is not None:
            raise RuntimeError("load_state_dict after prefetching started")
        self.loader.load_state_dict(state)
        self.consumed = self.loader.consumed


__all__ = ["Prefetcher", "TokenLoader", "TokenShards"]
