"""lm-tok: byte-level BPE training, vocabulary study, chat template and token shards."""

from lm_tok.chat import (
    ASSISTANT,
    BOS,
    CHAT_TEMPLATE,
    END_OF_TURN,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    SYSTEM,
    USER,
    render_chat,
)
from lm_tok.config import (
    ConfigError,
    EncodeConfig,
    InputError,
    InspectConfig,
    StudyConfig,
    TokenizerConfig,
    TokenizerTrainConfig,
)
from lm_tok.directory import load_tokenizer, save_tokenizer, tokenizer_sha256
from lm_tok.fast import FastEncoder
from lm_tok.pretokenize import SPLIT_PATTERN
from lm_tok.shards import ShardSet, encode_corpus, read_manifest
from lm_tok.study import run_study
from lm_tok.train import train_tokenizer

__all__ = [
    "ASSISTANT",
    "BOS",
    "CHAT_TEMPLATE",
    "END_OF_TURN",
    "EOS",
    "PAD",
    "SPECIAL_TOKENS",
    "SPLIT_PATTERN",
    "SYSTEM",
    "USER",
    "ConfigError",
    "EncodeConfig",
    "FastEncoder",
    "InputError",
    "InspectConfig",
    "ShardSet",
    "StudyConfig",
    "TokenizerConfig",
    "TokenizerTrainConfig",
    "encode_corpus",
    "load_tokenizer",
    "read_manifest",
    "render_chat",
    "run_study",
    "save_tokenizer",
    "tokenizer_sha256",
    "train_tokenizer",
]
