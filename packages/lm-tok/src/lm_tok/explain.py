"""How a string splits: pre-tokens from the split rule, then BPE tokens with their ids."""

from __future__ import annotations

from pathlib import Path

from lm_tok.directory import load_tokenizer
from lm_tok.fast import FastEncoder


def pretokens(directory: str | Path, text: str) -> list[str]:
    """The pieces the split rule cuts `text` into, before any merge."""
    tok = load_tokenizer(directory)
    norm = tok.normalizer.normalize_str(text) if tok.normalizer else text
    # Pieces come back in the byte-level alphabet; slice the text by their offsets instead.
    return [norm[a:b] for _, (a, b) in tok.pre_tokenizer.pre_tokenize_str(norm)]


def tokens(
    directory: str | Path, text: str, backend: str = "tokenizers"
) -> list[tuple[int, bytes]]:
    """(id, bytes) of each token of `text`."""
    if backend == "tiktoken":
        enc = FastEncoder.from_dir(directory)
        ids = enc.encode(text)
        return [(i, enc.encoding.decode_single_token_bytes(i)) for i in ids]
    tok = load_tokenizer(directory)
    tok.encode_special_tokens = True
    enc = FastEncoder.from_dir(directory)  # only its bytes table; ids come from `tokenizers`
    ids = tok.encode(text, add_special_tokens=False).ids
    return [(i, enc.encoding.decode_single_token_bytes(i)) for i in ids]


def explain(directory: str | Path, text: str, backend: str = "tokenizers") -> str:
    """A printable account of `text`'s pre-tokens and tokens."""
    pre = pretokens(directory, text)
    toks = tokens(directory, text, backend)
    lines = [
        f"{len(text.encode('utf-8'))} bytes, {len(pre)} pre-tokens, {len(toks)} tokens ({backend})",
        "pre-tokens: " + " | ".join(repr(p) for p in pre),
        "tokens:",
    ]
    lines += [f"  {i:>7}  {b.decode('utf-8', 'backslashreplace')!r}" for i, b in toks]
    return "\n".join(lines)
