"""The configs of `lm-chat chat` (terminal) and `lm-chat serve` (OpenAI-compatible API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lm_chat.generation import SamplingConfig
from lm_chat.server import ServerLimits


@dataclass(kw_only=True)
class _ModelConfig:
    """What both commands load and how they sample."""

    model: Path
    """Hugging Face model directory with tokenizer files (`save_hf(..., tokenizer_dir=)`)."""
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    """Default sampling; API requests may override temperature, top_p, seed and max_tokens."""
    device: str | None = None
    """torch device (default: cuda if available, else cpu)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Weights and activations dtype; auto: bfloat16 on CUDA, float32 on CPU."""

    def __post_init__(self) -> None:
        if not (Path(self.model) / "config.json").is_file():
            raise FileNotFoundError(f"model: {Path(self.model) / 'config.json'} not found")


@dataclass(kw_only=True)
class ChatConfig(_ModelConfig):
    """`lm-chat chat`: chat with a model directory in the terminal."""

    system: str | None = None
    """System prompt of the conversation."""


@dataclass(kw_only=True)
class ServeConfig(_ModelConfig):
    """`lm-chat serve`: serve a model directory as an OpenAI-compatible API."""

    host: str = "127.0.0.1"
    """Address to bind (loopback only by default)."""
    port: int = 8000
    """Port to bind."""
    model_name: str | None = None
    """Name clients must use in the `model` field (default: the directory's name)."""
    limits: ServerLimits = field(default_factory=ServerLimits)
    """What one API request may ask: body size, messages, stop strings, requests in flight."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.port < 65536:
            raise ValueError(f"port: must be in 1..65535, got {self.port}")
