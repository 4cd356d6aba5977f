"""The config of the `lm-chat` command."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import tyro

from lm_chat.generation import SamplingConfig
from lm_chat.server import ServerLimits


@dataclass(kw_only=True)
class ChatConfig:
    """Chat with a model directory in the terminal, or serve it (--serve) as an OpenAI-compatible API."""

    model: Annotated[Path, tyro.conf.Positional]
    """Hugging Face model directory with tokenizer files (`save_hf(..., tokenizer_dir=)`)."""
    serve: bool = False
    """Serve /v1/chat/completions and /v1/models instead of chatting in the terminal."""
    host: str = "127.0.0.1"
    """Address to bind with --serve (loopback only by default)."""
    port: int = 8000
    """Port to bind with --serve."""
    model_name: str | None = None
    """Name clients must use in the `model` field (default: the directory's name)."""
    system: str | None = None
    """System prompt of the terminal chat."""
    sampling: Annotated[SamplingConfig, tyro.conf.OmitArgPrefixes] = field(default_factory=SamplingConfig)
    """Default sampling; API requests may override temperature, top_p, seed and max_tokens."""
    limits: Annotated[ServerLimits, tyro.conf.OmitArgPrefixes] = field(default_factory=ServerLimits)
    """What one API request may ask (--serve): body size, messages, stop strings, requests in flight."""
    device: str | None = None
    """torch device (default: cuda if available, else cpu)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights and activations dtype; auto: bfloat16 on CUDA, float32 on CPU."""

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port: must be in 1..65535, got {self.port}")
        if not (self.model / "config.json").is_file():
            raise FileNotFoundError(f"model: {self.model / 'config.json'} not found")
