"""Byte-level BPE training on HF `tokenizers`, streaming from files or any iterator of str."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)
from tqdm.auto import tqdm

from lm_tok.chat import SPECIAL_TOKENS
from lm_tok.config import TokenizerConfig, TokenizerTrainConfig, check_inputs
from lm_tok.directory import save_tokenizer
from lm_tok.pretokenize import pre_tokenizer
from lm_tok.sources import SkipLog, iter_texts

log = logging.getLogger(__name__)


def empty_tokenizer(cfg: TokenizerConfig) -> Tokenizer:
    """An untrained byte-level BPE pipeline: optional NFC, the split rule, byte mapping."""
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False, fuse_unk=False))
    if cfg.nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    # trim_offsets=False keeps character offsets exact, which the assistant-token mask relies on.
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def bpe_trainer(cfg: TokenizerConfig, *, progress: bool) -> trainers.BpeTrainer:
    return trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=[*SPECIAL_TOKENS, *cfg.extra_special_tokens],
        # All 256 bytes are in the vocabulary whether or not the corpus has them: no unknowns.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=progress,
    )


def _capped(texts: Iterable[str], max_bytes: int | None, bar: tqdm | None) -> Iterator[str]:
    seen = 0
    for text in texts:
        n = len(text.encode("utf-8"))
        if bar is not None:
            bar.update(n)
        yield text
        seen += n
        if max_bytes is not None and seen >= max_bytes:
            log.info("read %d bytes, the max_bytes cap; the rest of the input is not used", seen)
            return


def train_tokenizer(
    source: Iterable[str] | Iterable[str | Path],
    config: TokenizerConfig | None = None,
    *,
    text_field: str = "text",
    max_bytes: int | None = None,
    progress: bool = False,
) -> Tokenizer:
    """Train a byte-level BPE tokenizer.

    `source` is either a list of file paths (text, JSONL, Parquet; streamed, so a corpus
    larger than memory trains) or any iterable of strings (texts). Returns a
    `tokenizers.Tokenizer`; save it with `save_tokenizer`.
    """
    cfg = config or TokenizerConfig()
    skipped = SkipLog()
    if isinstance(source, list | tuple) and all(isinstance(s, Path) for s in source):
        paths = tuple(source)
        check_inputs(paths, "inputs")
        texts: Iterable[str] = iter_texts(paths, text_field, skipped, whole_text_files=False)
    else:
        texts = source  # type: ignore[assignment]
    tok = empty_tokenizer(cfg)
    bar = tqdm(desc="read", unit="B", unit_scale=True, disable=not progress)
    with bar:
        tok.train_from_iterator(
            _capped(texts, max_bytes, bar), trainer=bpe_trainer(cfg, progress=progress)
        )
    if skipped:
        log.warning(skipped.summary())
    got = tok.get_vocab_size()
    if got < cfg.vocab_size:
        log.warning("the corpus supports only %d tokens of the %d asked for (min_frequency=%d)",
                    got, cfg.vocab_size, cfg.min_frequency)
    return tok


def main(cfg: TokenizerTrainConfig) -> Path:
    """`lm-tok train`: train on the input files and write the tokenizer directory."""
    check_inputs(cfg.inputs, "inputs")
    tok = train_tokenizer(list(cfg.inputs), cfg.tokenizer, text_field=cfg.text_field,
                          max_bytes=cfg.max_bytes, progress=cfg.progress)
    save_tokenizer(tok, cfg.output, cfg.tokenizer)
    log.info("wrote %s (vocabulary %d)", cfg.output, tok.get_vocab_size())
    return cfg.output
