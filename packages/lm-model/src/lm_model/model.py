"""A Llama-3-family decoder-only transformer: the architecture and nothing else.

Pre-norm RMSNorm blocks, grouped-query attention with rotary position embeddings through
`F.scaled_dot_product_attention`, and a SwiGLU feed-forward. Parameter names follow Meta's
Llama and torchtitan (`tok_embeddings`, `layers.{i}.attention.wq`, ...), and the module tree
is what torchtitan-style parallelism expects: `layers` is a ModuleDict keyed by the global
layer index, and `tok_embeddings`, `norm` and `output` may be set to None so a pipeline
stage holds only its slice. Training, parallelism and loss live elsewhere (lm-dist).

RoPE rotates the two halves of each head (the "rotate_half" layout of GPT-NeoX and Hugging
Face), so Hugging Face export is a rename with no weight permutation. Meta's original
checkpoints rotate interleaved pairs; loading those needs the usual q/k row permutation.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lm_model.config import ModelConfig, RopeScaling


def rope_frequencies(head_dim: int, theta: float, scaling: RopeScaling | None) -> torch.Tensor:
    """Inverse frequencies of each rotated pair, with Llama 3.1 scaling if asked for."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    if scaling is None:
        return freqs.float()
    wavelen = 2 * math.pi / freqs
    low_freq_wavelen = scaling.original_max_seq_len / scaling.low_freq_factor
    high_freq_wavelen = scaling.original_max_seq_len / scaling.high_freq_factor
    # Between the two wavelengths, interpolate smoothly between scaled and unscaled.
    smooth = (scaling.original_max_seq_len / wavelen - scaling.low_freq_factor) / (
        scaling.high_freq_factor - scaling.low_freq_factor
    )
    blended = (1 - smooth) * freqs / scaling.factor + smooth * freqs
    scaled = torch.where(wavelen > low_freq_wavelen, freqs / scaling.factor, freqs)
    in_between = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(in_between, blended, scaled).float()


def rope_table(config: ModelConfig, device: torch.device | str | None = None) -> torch.Tensor:
    """cos and sin for every position, shape (max_seq_len, 2, head_dim), float32."""
    freqs = rope_frequencies(config.head_dim, config.rope_theta, config.rope_scaling)
    positions = torch.arange(config.max_seq_len, dtype=torch.float32)
    angles = torch.outer(positions, freqs)
    angles = torch.cat([angles, angles], dim=-1)
    return torch.stack([angles.cos(), angles.sin()], dim=1).to(device)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x of shape (batch, seq, heads, head_dim) by position; cos/sin are (seq, head_dim)."""
    cos = cos[None, :, None, :].to(x.dtype)
    sin = sin[None, :, None, :].to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return x * cos + rotated * sin


class KVCache:
    """Keys and values of every layer for a batch being generated, preallocated once.

    `pos` counts the positions already written; the model advances it after each forward.
    """

    def __init__(self, config: ModelConfig, *, batch_size: int, max_len: int,
                 dtype: torch.dtype, device: torch.device | str) -> None:
        if max_len > config.max_seq_len:
            raise ValueError(
                f"max_len {max_len} exceeds the model's max_seq_len {config.max_seq_len}"
            )
        shape = (config.n_layers, batch_size, config.n_kv_heads, max_len, config.head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.pos = 0

    @property
    def max_len(self) -> int:
        return self.k.shape[3]

    def update(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this step's (batch, kv_heads, seq, head_dim) keys/values; return all so far."""
        end = self.pos + k.shape[2]
        self.k[layer, :, :, self.pos:end] = k
        self.v[layer, :, :, self.pos:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


class Attention(nn.Module):
    """Grouped-query self-attention with RoPE and optional per-head QK RMSNorm."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.n_kv_heads = config.n_kv_heads
        self.head_dim = config.head_dim
        self.wq = nn.Linear(config.dim, config.n_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(config.dim, config.n_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(config.dim, config.n_kv_heads * self.head_dim, bias=False)
        self.wo = nn.Linear(config.n_heads * self.head_dim, config.dim, bias=False)
        self.q_norm = nn.RMSNorm(self.head_dim, eps=config.norm_eps) if config.qk_norm else None
        self.k_norm = nn.RMSNorm(self.head_dim, eps=config.norm_eps) if config.qk_norm else None

    def init_weights(self, std: float, residual_std: float) -> None:
        for linear in (self.wq, self.wk, self.wv):
            nn.init.trunc_normal_(linear.weight, std=std, a=-3 * std, b=3 * std)
        nn.init.trunc_normal_(
            self.wo.weight, std=residual_std, a=-3 * residual_std, b=3 * residual_std
        )
        for norm in (self.q_norm, self.k_norm):
            if norm is not None:
                norm.reset_parameters()

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        bsz, seqlen, _ = x.shape
        # cos/sin run from this chunk's first position to the table's end: under sequence
        # parallelism a pipeline stage's input holds only a slice of the sequence, so only
        # here, after the all-gather, is the real length known.
        cos, sin = cos[:seqlen], sin[:seqlen]
        # -1, not n_heads: under tensor parallelism each rank holds only its heads.
        q = self.wq(x).view(bsz, seqlen, -1, self.head_dim)
        k = self.wk(x).view(bsz, seqlen, -1, self.head_dim)
        v = self.wv(x).view(bsz, seqlen, -1, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        start = 0
        if cache is not None:
            start = cache.pos
            k, v = cache.update(layer, k, v)
        out = _causal_attention(q, k, v, start)
        return self.wo(out.transpose(1, 2).reshape(bsz, seqlen, -1))


def _causal_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, start: int
) -> torch.Tensor:
    """SDPA where query i sits at absolute position start + i and keys cover 0..start+len(q)."""
    # Grouped-query attention inside SDPA: measured 28% faster on CPU (fp32 and bf16) than
    # expanding k/v to every query head first, and it works on tensor-parallel local heads.
    gqa = q.shape[1] != k.shape[1]
    q_len, kv_len = q.shape[2], k.shape[2]
    if start == 0:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=gqa)
    if q_len == 1:
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)
    # is_causal aligns the mask top-left; a chunk after a cached prefix needs bottom-right.
    mask = torch.ones(q_len, kv_len, dtype=torch.bool, device=q.device).tril(kv_len - q_len)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=gqa)


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(dim, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, dim, bias=False)
        self.w3 = nn.Linear(dim, hidden_dim, bias=False)

    def init_weights(self, std: float, residual_std: float) -> None:
        for linear, s in ((self.w1, std), (self.w3, std), (self.w2, residual_std)):
            nn.init.trunc_normal_(linear.weight, std=s, a=-3 * s, b=3 * s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """Pre-norm residual block: x + attn(norm(x)), then + ffn(norm(.))."""

    def __init__(self, layer_id: int, config: ModelConfig) -> None:
        super().__init__()
        self.layer_id = layer_id
        self.attention = Attention(config)
        self.feed_forward = FeedForward(config.dim, config.hidden_dim)
        self.attention_norm = nn.RMSNorm(config.dim, eps=config.norm_eps)
        self.ffn_norm = nn.RMSNorm(config.dim, eps=config.norm_eps)

    def init_weights(self, std: float, residual_std: float) -> None:
        self.attention.init_weights(std, residual_std)
        self.feed_forward.init_weights(std, residual_std)
        self.attention_norm.reset_parameters()
        self.ffn_norm.reset_parameters()

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: KVCache | None = None) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x), cos, sin, cache, self.layer_id)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    """Token ids (batch, seq) → logits (batch, seq, vocab).

    A pipeline stage may set `tok_embeddings` to None (it then takes hidden states in) and
    `norm`/`output` to None (it then returns hidden states); `layers` keeps global indices
    as keys so parameter names, and so checkpoints, do not depend on the split.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.tok_embeddings: nn.Embedding | None = nn.Embedding(config.vocab_size, config.dim)
        self.layers = nn.ModuleDict(
            {str(i): TransformerBlock(i, config) for i in range(config.n_layers)}
        )
        self.norm: nn.RMSNorm | None = nn.RMSNorm(config.dim, eps=config.norm_eps)
        self.output: nn.Linear | None = nn.Linear(config.dim, config.vocab_size, bias=False)
        # Not saved with the weights: it is derived from the config and rebuilt on load.
        self.register_buffer("rope_cache", rope_table(config), persistent=False)
        self.init_weights()

    def init_buffers(self, device: torch.device | str | None = None) -> None:
        """Recompute the RoPE table, e.g. after `to_empty()` from the meta device."""
        device = device if device is not None else self.rope_cache.device
        self.rope_cache = rope_table(self.config, device)

    def init_weights(self, buffer_device: torch.device | str | None = None) -> None:
        """(Re)initialise every parameter and buffer; call after materialising a meta model."""
        std = self.config.init_std
        # Residual projections are scaled so the residual stream's variance does not grow
        # with depth (GPT-2, section 2.3).
        residual_std = std / math.sqrt(2 * self.config.n_layers)
        self.init_buffers(buffer_device)
        if self.tok_embeddings is not None:
            nn.init.trunc_normal_(self.tok_embeddings.weight, std=std, a=-3 * std, b=3 * std)
        for layer in self.layers.values():
            layer.init_weights(std, residual_std)
        if self.norm is not None:
            self.norm.reset_parameters()
        if self.output is not None:
            if self.config.tie_embeddings and self.tok_embeddings is not None:
                # Re-tie here: to_empty() from the meta device unties shared parameters.
                self.output.weight = self.tok_embeddings.weight
            else:
                nn.init.trunc_normal_(self.output.weight, std=std, a=-3 * std, b=3 * std)

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Logits (batch, seq, vocab); on a pipeline stage without a head, its hidden states."""
        h = self.hidden(tokens, cache)
        return self.output(h) if self.output is not None else h

    def hidden(self, tokens: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Final (normed) hidden states, before the output head.

        Callers that need logits at a few positions only (scoring, the last position in
        generation) apply `output` to those: logits of every position of a long batch over a
        large vocabulary would dwarf the rest of inference memory.
        """
        seqlen = tokens.shape[1]
        start = 0 if cache is None else cache.pos
        if start + seqlen > self.config.max_seq_len:
            raise ValueError(
                f"sequence of {start + seqlen} positions exceeds "
                f"max_seq_len {self.config.max_seq_len}"
            )
        h = self.tok_embeddings(tokens) if self.tok_embeddings is not None else tokens
        cos, sin = self.rope_cache[start:].unbind(1)
        for layer in self.layers.values():
            h = layer(h, cos, sin, cache)
        if cache is not None:
            cache.pos += seqlen
        return self.norm(h) if self.norm is not None else h

    def num_params(self, *, exclude_embeddings: bool = False) -> int:
        """Parameters this module holds (a tied matrix counts once)."""
        total = sum(p.numel() for p in self.parameters())
        if exclude_embeddings and self.tok_embeddings is not None:
            total -= self.tok_embeddings.weight.numel()
        return total

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token of the whole model (see `ModelConfig.flops_per_token`)."""
        return self.config.flops_per_token(seq_len)
