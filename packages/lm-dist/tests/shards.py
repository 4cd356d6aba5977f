"""Writes token shard directories in lm-tok's format (manifest.json + raw little-endian ids)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_shards(directory: Path, *, num_tokens: int = 20_000, vocab_size: int = 512,
                 num_shards: int = 2, dtype: str = "uint16", seed: int = 0,
                 eos_id: int = 1) -> Path:
    """Random documents (ids >= 3) separated by eos, split over `num_shards` files."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(3, vocab_size, size=num_tokens).astype(dtype)
    # Learnable structure: every token after an even one repeats it, so the loss falls.
    tokens[1::2] = tokens[0::2][: len(tokens[1::2])]
    doc_ends = rng.choice(num_tokens, size=num_tokens // 200, replace=False)
    tokens[doc_ends] = eos_id
    directory.mkdir(parents=True, exist_ok=True)
    shards = []
    for i, part in enumerate(np.array_split(tokens, num_shards)):
        name = f"shard-{i:05d}.bin"
        part.astype(np.dtype(dtype).newbyteorder("<")).tofile(directory / name)
        shards.append({"path": name, "num_tokens": len(part),
                       "num_documents": int((part == eos_id).sum())})
    manifest = {
        "format": "lm-tok-shards/1", "dtype": dtype, "vocab_size": vocab_size, "bos_id": 0,
        "eos_id": eos_id, "pad_id": 2, "num_tokens": num_tokens,
        "num_documents": sum(s["num_documents"] for s in shards), "shards": shards,
        "tokenizer_sha256": "0" * 64, "sources": ["synthetic"],
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return directory
