"""A tiktoken encoder built from a trained tokenizer.json: the same ids, several times faster.

tiktoken applies byte-level BPE by merge rank, where a token's rank is its id. That equals
`tokenizers`' merge order when every merged token's id grows with its merge's position,
which `tokenizers`' BPE trainer guarantees; `FastEncoder` checks it and refuses otherwise.
The split regex is read from tokenizer.json, so both encoders split text the same way.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import tiktoken

from lm_tok.config import InputError
from lm_tok.directory import tokenizer_json_path
from lm_tok.pretokenize import split_pattern_of


@cache
def byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-in character for each byte, inverted (what ByteLevel writes)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def _merge_pairs(model: dict) -> list[tuple[str, str]]:
    # tokenizers writes merges as "a b" strings (old) or [a, b] pairs (>= 0.20).
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]


def mergeable_ranks(tj: dict) -> dict[bytes, int]:
    """Token bytes -> id for the BPE vocabulary, checked to be a valid tiktoken rank order."""
    model = tj.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        raise ValueError("model: expected a byte-level BPE model without byte_fallback")
    specials = {t["content"] for t in tj.get("added_tokens", [])}
    dec = byte_decoder()
    try:
        ranks = {
            bytes(dec[c] for c in tok): i
            for tok, i in model["vocab"].items()
            if tok not in specials
        }
    except KeyError as e:
        raise ValueError(f"model.vocab: token with a non-byte-level character {e}") from e
    if len(ranks) != len(model["vocab"]) - len(specials & set(model["vocab"])):
        raise ValueError("model.vocab: two tokens map to the same bytes")
    if any(bytes([b]) not in ranks for b in range(256)):
        raise ValueError(
            "model.vocab: not every byte has a token (train with the ByteLevel alphabet)"
        )
    last = max(ranks[bytes([b])] for b in range(256))
    vocab = model["vocab"]
    for a, b in _merge_pairs(model):
        merged = vocab.get(a + b)
        if merged is None or merged <= max(last, vocab[a], vocab[b]):
            raise ValueError(
                f"model.merges: merge {a!r}+{b!r} is out of id order; tiktoken would differ"
            )
        last = merged
    return ranks


class FastEncoder:
    """Encodes text with tiktoken using a tokenizer.json's merges, split rule and normaliser.

    Special-token strings inside a text are encoded as plain text, so a document cannot
    inject <|eos|> into the token stream.
    """

    def __init__(self, tokenizer_json: dict, *, name: str = "lm-tok") -> None:
        norm = tokenizer_json.get("normalizer")
        if norm is not None and norm.get("type") != "NFC":
            raise ValueError(f"normalizer: only none or NFC is supported, got {norm.get('type')}")
        self.nfc = norm is not None
        special = {t["content"]: t["id"] for t in tokenizer_json.get("added_tokens", [])}
        self.encoding = tiktoken.Encoding(
            name,
            pat_str=split_pattern_of(tokenizer_json),
            mergeable_ranks=mergeable_ranks(tokenizer_json),
            special_tokens=special,
        )
        self.special_tokens = special
        self.vocab_size = len(tokenizer_json["model"]["vocab"]) + len(
            set(special) - set(tokenizer_json["model"]["vocab"])
        )

    @classmethod
    def from_dir(cls, directory: str | Path) -> FastEncoder:
        """Build from a tokenizer directory (or a tokenizer.json path)."""
        p = Path(directory)
        p = p if p.is_file() else tokenizer_json_path(p)
        try:
            return cls(json.loads(p.read_text(encoding="utf-8")))
        except (ValueError, KeyError) as e:
            raise InputError(f"{p}: cannot build the fast encoder: {e}") from e

    def _norm(self, text: str) -> str:
        return unicodedata.normalize("NFC", text) if self.nfc else text

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(self._norm(text))

    def encode_to_numpy(self, text: str) -> np.ndarray:
        """uint32 ids without building a Python list (the shard encoder's hot path)."""
        return self.encoding.encode_to_numpy(
            self._norm(text), allowed_special=set(), disallowed_special=()
        )

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        # A plain loop: tiktoken's threaded batch call loses on many short texts
        # (docs/architecture.md, "Encoding speed").
        return [self.encode(t) for t in texts]

    def decode(self, ids: Sequence[int]) -> str:
        return self.encoding.decode(list(ids))
