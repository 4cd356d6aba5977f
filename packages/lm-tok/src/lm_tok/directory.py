"""The tokenizer directory: what transformers and `tokenizers` both load.

    tokenizer.json           the `tokenizers` pipeline (NFC?, split rule, byte-level BPE)
    tokenizer_config.json    bos/eos/pad, model_max_length, the chat template
    special_tokens_map.json  bos/eos/pad and the chat-role tokens, for older loaders
    generation_config.json   the stop tokens (eos and end of turn) of a model using it;
                             `lm_model.hf.save_hf(..., tokenizer_dir=)` copies it to the model
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tokenizers import Tokenizer

from lm_tok.chat import BOS, CHAT_TEMPLATE, EOS, PAD, SPECIAL_TOKENS, STOP_TOKENS
from lm_tok.config import InputError, TokenizerConfig

TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG_JSON = "tokenizer_config.json"
SPECIAL_TOKENS_MAP_JSON = "special_tokens_map.json"
GENERATION_CONFIG_JSON = "generation_config.json"


def tokenizer_config(cfg: TokenizerConfig) -> dict:
    """The transformers-side settings. Special tokens are never added implicitly: the shard
    encoder adds bos/eos itself and the chat template writes bos."""
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "unk_token": None,
        "additional_special_tokens": [*SPECIAL_TOKENS[3:], *cfg.extra_special_tokens],
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": cfg.model_max_length,
        "padding_side": "right",
        "chat_template": CHAT_TEMPLATE,
    }


def generation_config(tokenizer: Tokenizer) -> dict:
    """transformers' generation defaults for a model using `tokenizer`: it stops at eos and
    at the end of a chat turn. lm-tok owns these tokens, so it writes this file; the model
    directory gets a copy, and lm-model, lm-chat and lm-evaluate read the ids from there."""
    ids = {t: tokenizer.token_to_id(t) for t in (BOS, PAD, *STOP_TOKENS)}
    missing = [t for t, i in ids.items() if i is None]
    if missing:
        raise InputError(f"tokenizer: special tokens {missing} are missing")
    return {"bos_token_id": ids[BOS], "eos_token_id": [ids[t] for t in STOP_TOKENS],
            "pad_token_id": ids[PAD]}


def save_tokenizer(
    tokenizer: Tokenizer, directory: str | Path, config: TokenizerConfig | None = None
) -> Path:
    """Write `tokenizer` as a directory that transformers and `tokenizers` both load."""
    cfg = config or TokenizerConfig(vocab_size=max(tokenizer.get_vocab_size(), 300))
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for t in SPECIAL_TOKENS:
        if tokenizer.token_to_id(t) is None:
            raise InputError(
                f"tokenizer: special token {t} is missing; train with lm_tok.train_tokenizer"
            )
    tokenizer.save(str(d / TOKENIZER_JSON))
    tc = tokenizer_config(cfg)
    (d / TOKENIZER_CONFIG_JSON).write_text(json.dumps(tc, indent=2, ensure_ascii=False) + "\n")
    stm = {k: tc[k] for k in ("bos_token", "eos_token", "pad_token", "additional_special_tokens")}
    (d / SPECIAL_TOKENS_MAP_JSON).write_text(json.dumps(stm, indent=2, ensure_ascii=False) + "\n")
    generation = json.dumps(generation_config(tokenizer), indent=2)
    (d / GENERATION_CONFIG_JSON).write_text(generation + "\n")
    return d


def tokenizer_json_path(directory: str | Path) -> Path:
    """`directory/tokenizer.json`, or FileNotFoundError naming it."""
    p = Path(directory) / TOKENIZER_JSON
    if not p.is_file():
        raise FileNotFoundError(
            f"{p}: not found (is {directory} a tokenizer directory from `lm-tok train`?)"
        )
    return p


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """The `tokenizers.Tokenizer` of a tokenizer directory, checked for lm-tok's special tokens."""
    p = tokenizer_json_path(directory)
    try:
        tok = Tokenizer.from_file(str(p))
    except Exception as e:  # tokenizers raises a bare Exception on malformed JSON
        raise InputError(f"{p}: not a valid tokenizer.json: {e}") from e
    missing = [t for t in (BOS, EOS, PAD) if tok.token_to_id(t) is None]
    if missing:
        raise InputError(f"{p}: special tokens {missing} are missing")
    return tok


def tokenizer_sha256(directory: str | Path) -> str:
    """SHA-256 of tokenizer.json: identifies the exact tokenizer a shard set was encoded with."""
    return hashlib.sha256(tokenizer_json_path(directory).read_bytes()).hexdigest()
