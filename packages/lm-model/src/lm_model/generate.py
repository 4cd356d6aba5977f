"""Autoregressive sampling with a KV cache, streaming one token id at a time."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence

import torch

from lm_model.model import KVCache, Transformer

logger = logging.getLogger(__name__)


def sample_next(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick the next id from (batch, vocab) logits; temperature 0 is greedy (argmax)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        # Drop a token once the tokens before it already reach top_p; the first always stays.
        drop_sorted = (cum - sorted_logits.softmax(dim=-1)) >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def _check_args(temperature: float, top_k: int | None, top_p: float | None,
                max_new_tokens: int) -> None:
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k <= 0:
        raise ValueError(f"top_k must be positive, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")


@torch.inference_mode()
def generate(
    model: Transformer,
    prompt_ids: Sequence[int] | torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_ids: Iterable[int] = (),
    seed: int | None = None,
    use_cache: bool = True,
) -> Iterator[int]:
    """Yield new token ids one by one as they are sampled, for a single prompt.

    Generation ends after `max_new_tokens`, after yielding a token from `stop_ids` (the
    stop token is yielded, as Hugging Face's `generate` keeps eos), or when the sequence
    reaches the model's `max_seq_len`. `use_cache=False` recomputes the whole sequence at
    every step: slower, and the reference the cached path is tested against.
    """
    _check_args(temperature, top_k, top_p, max_new_tokens)
    ids = torch.as_tensor(list(map(int, prompt_ids)) if not isinstance(prompt_ids, torch.Tensor)
                          else prompt_ids, dtype=torch.long).flatten()
    if ids.numel() == 0:
        raise ValueError("prompt_ids is empty: give at least one token (e.g. bos)")
    param = next(model.parameters())
    ids = ids.to(param.device)[None, :]
    limit = model.config.max_seq_len
    budget = min(max_new_tokens, limit - ids.shape[1])
    if budget < max_new_tokens:
        logger.warning(
            "prompt of %d tokens leaves room for only %d of %d new tokens (max_seq_len %d)",
            ids.shape[1],
            max(budget, 0),
            max_new_tokens,
            limit,
        )
    if budget <= 0:
        return
    stops = set(map(int, stop_ids))
    generator = None
    if seed is not None:
        generator = torch.Generator(device=param.device).manual_seed(seed)
    cache = None
    if use_cache:
        cache = KVCache(model.config, batch_size=1, max_len=ids.shape[1] + budget,
                        dtype=param.dtype, device=param.device)
    was_training = model.training
    model.eval()
    try:
        step_input = ids
        for _ in range(budget):
            # Only the last position is sampled: no logits for the rest of the prompt.
            logits = model.output(model.hidden(step_input, cache)[:, -1])
            token = sample_next(logits, temperature=temperature, top_k=top_k, top_p=top_p,
                                generator=generator)
            yield int(token)
            if int(token) in stops:
                return
            ids = torch.cat([ids, token[:, None]], dim=1)
            step_input = token[:, None] if use_cache else ids
    finally:
        model.train(was_training)
