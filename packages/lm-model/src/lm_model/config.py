"""Model configuration and named presets.

Presets are plain dicts so they can be printed, diffed and overridden from TOML or the
command line; `ModelConfig.from_preset` turns one into a validated config.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


@dataclass(kw_only=True)
class RopeScaling:
    """Llama 3.1 frequency scaling, which stretches RoPE to longer contexts."""

    factor: float = 8.0
    """How much longer the target context is than the original one."""
    low_freq_factor: float = 1.0
    """Wavelengths longer than original_max_seq_len / low_freq_factor are fully scaled."""
    high_freq_factor: float = 4.0
    """Wavelengths shorter than original_max_seq_len / high_freq_factor are kept."""
    original_max_seq_len: int = 8192
    """Context length the unscaled frequencies were trained for."""

    def __post_init__(self) -> None:
        if self.factor < 1.0:
            raise ValueError(f"rope_scaling.factor must be >= 1, got {self.factor}")
        if not 0 < self.low_freq_factor < self.high_freq_factor:
            raise ValueError(
                "rope_scaling needs 0 < low_freq_factor < high_freq_factor, got "
                f"{self.low_freq_factor} and {self.high_freq_factor}"
            )
        if self.original_max_seq_len <= 0:
            raise ValueError(
                "rope_scaling.original_max_seq_len must be positive, "
                f"got {self.original_max_seq_len}"
            )


@dataclass(kw_only=True)
class ModelConfig:
    """Shape and numerics of a Llama-3-family decoder-only transformer."""

    vocab_size: int = 32768
    """Number of token ids the embedding and output head cover."""
    dim: int = 512
    """Width of the residual stream."""
    n_layers: int = 8
    """Number of transformer blocks."""
    n_heads: int = 8
    """Number of query heads; head_dim = dim // n_heads."""
    n_kv_heads: int | None = None
    """Number of key/value heads for grouped-query attention; None means n_heads (plain MHA)."""
    ffn_hidden_dim: int | None = None
    """Width of the SwiGLU hidden layer. None derives it Llama-style from dim,
    ffn_dim_multiplier and multiple_of."""
    ffn_dim_multiplier: float | None = None
    """Scales the derived hidden width (Llama 3 8B uses 1.3); ignored when ffn_hidden_dim is set."""
    multiple_of: int = 256
    """The derived hidden width is rounded up to a multiple of this (hardware-friendly shapes)."""
    norm_eps: float = 1e-5
    """Epsilon of every RMSNorm."""
    rope_theta: float = 500_000.0
    """Base of the rotary embedding frequencies."""
    rope_scaling: RopeScaling | None = None
    """Llama 3.1 long-context frequency scaling; None leaves the frequencies as they are."""
    max_seq_len: int = 2048
    """Longest sequence (prompt plus generated tokens) the rotary table covers."""
    tie_embeddings: bool = False
    """Share one matrix between the token embedding and the output head."""
    qk_norm: bool = False
    """RMSNorm each query and key head before RoPE (Qwen3, OLMo 2); exported as Qwen3."""
    init_std: float = 0.02
    """Standard deviation of the weight init; residual projections are scaled down by depth."""

    def __post_init__(self) -> None:
        if isinstance(self.rope_scaling, dict):
            self.rope_scaling = RopeScaling(**self.rope_scaling)
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        for name in ("vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads",
                     "multiple_of", "max_seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.dim % self.n_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must divide dim ({self.dim})")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"n_kv_heads ({self.n_kv_heads}) must divide n_heads ({self.n_heads})"
            )
        if self.head_dim % 2:
            raise ValueError(
                f"head_dim = dim / n_heads = {self.head_dim} must be even for RoPE; "
                "change dim or n_heads"
            )
        if self.ffn_hidden_dim is not None and self.ffn_hidden_dim <= 0:
            raise ValueError(f"ffn_hidden_dim must be positive, got {self.ffn_hidden_dim}")
        if self.ffn_dim_multiplier is not None and self.ffn_dim_multiplier <= 0:
            raise ValueError(f"ffn_dim_multiplier must be positive, got {self.ffn_dim_multiplier}")
        for name in ("norm_eps", "rope_theta", "init_std"):
            value = getattr(self, name)
            if not value > 0 or not math.isfinite(value):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def hidden_dim(self) -> int:
        """The SwiGLU hidden width actually used."""
        if self.ffn_hidden_dim is not None:
            return self.ffn_hidden_dim
        hidden = int(2 * 4 * self.dim / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * math.ceil(hidden / self.multiple_of)

    def num_params(self, *, exclude_embeddings: bool = False) -> int:
        """Parameter count derived from the shape alone (no model needed, works for 8B)."""
        d, hd, kv = self.dim, self.head_dim, self.n_kv_heads
        attn = d * self.n_heads * hd + 2 * d * kv * hd + self.n_heads * hd * d
        qk_norms = 2 * hd if self.qk_norm else 0
        block = attn + qk_norms + 3 * d * self.hidden_dim + 2 * d
        embedding = self.vocab_size * d
        head = 0 if self.tie_embeddings else self.vocab_size * d
        total = embedding + self.n_layers * block + d + head
        return total - embedding if exclude_embeddings else total

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs (forward + backward) per token at this sequence length.

        6N for the matmuls (N excludes the embedding lookup, which is no matmul, but keeps
        the output head even when tied) plus 12·L·H·head_dim·T for attention scores and
        values, as in PaLM (appendix B) and torchtitan, so MFU figures compare directly.
        """
        matmul_params = self.num_params(exclude_embeddings=True)
        if self.tie_embeddings:
            matmul_params += self.vocab_size * self.dim
        attention = 12 * self.n_layers * self.n_heads * self.head_dim * seq_len
        return 6 * matmul_params + attention

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Build from a plain dict (a preset, TOML table or saved config), rejecting unknown
        keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig field(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """A named preset from PRESETS, with fields overridden (e.g. vocab_size)."""
        if name not in PRESETS:
            raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls.from_dict({**PRESETS[name], **overrides})


PRESETS: dict[str, dict[str, Any]] = {
    # Two layers, 64 wide: the shape every test uses.
    "debug": dict(vocab_size=512, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                  multiple_of=32, max_seq_len=256, rope_theta=10_000.0),
    # About 10M parameters: trains on a laptop CPU in the built-in demo.
    "tiny": dict(vocab_size=8192, dim=256, n_layers=8, n_heads=4, n_kv_heads=2,
                 multiple_of=64, max_seq_len=512, rope_theta=10_000.0),
    # About 125M parameters, GPT-2-small scale with GQA.
    "small": dict(vocab_size=32768, dim=768, n_layers=12, n_heads=12, n_kv_heads=4,
                  multiple_of=256, max_seq_len=2048),
    # Llama 3.2 1B shape (1.24B parameters, tied embeddings).
    "1b": dict(vocab_size=128256, dim=2048, n_layers=16, n_heads=32, n_kv_heads=8,
               ffn_dim_multiplier=1.5, multiple_of=256, max_seq_len=8192,
               tie_embeddings=True, rope_scaling=dict(factor=32.0)),
    # Llama 3.1 8B shape (8.03B parameters).
    "8b": dict(vocab_size=128256, dim=4096, n_layers=32, n_heads=32, n_kv_heads=8,
               ffn_dim_multiplier=1.3, multiple_of=1024, max_seq_len=8192,
               rope_scaling=dict(factor=8.0)),
}
"""Named model shapes. Copy one and change fields; `ModelConfig.from_preset` validates."""

__all__ = ["PRESETS", "ModelConfig", "RopeScaling"]
