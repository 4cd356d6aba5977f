"""Held-out measures that need only a model, its tokenizer and the examples.

`sft_loss` is the mean negative log-likelihood per assistant token (the tokens inside
the chat template's `{% generation %}` blocks, the replies and their end-of-turn token).
`preference_metrics` scores pairs with DPO's implicit reward
r(x, y) = β·(log π(y|x) - log π_ref(y|x)), summed over the reply's tokens, and reports the
share of pairs where it prefers the chosen reply (ties count as wrong, as trl counts
them) and the mean margin r(chosen) - r(rejected). Both tokenize exactly as trl does: a
reply's tokens are those of prompt + reply past the prompt rendered with the generation
prompt, truncated at `max_length` keeping the start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from lm_align.adapters import Example
from lm_align.errors import InputError


def _chat_ids(tokenizer: Any, messages: list[dict], **kwargs: Any) -> dict:
    return tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)


@torch.no_grad()
def _sum_logprobs(model: Any, rows: list[tuple[list[int], list[int]]], pad_id: int,
                  batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row (ids, loss mask): the sum of log p(token) over masked tokens and their count."""
    device = next(model.parameters()).device
    sums, counts = [], []
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.bool)
        attn = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (row_ids, row_mask) in enumerate(batch):
            ids[i, : len(row_ids)] = torch.tensor(row_ids)
            mask[i, : len(row_mask)] = torch.tensor(row_mask, dtype=torch.bool)
            attn[i, : len(row_ids)] = 1
        ids, mask, attn = ids.to(device), mask.to(device), attn.to(device)
        logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float()
        logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
        target = mask[:, 1:]
        sums.append((logp * target).sum(-1).cpu())
        counts.append(target.sum(-1).cpu())
    return torch.cat(sums), torch.cat(counts)


def sft_rows(
    tokenizer: Any, examples: Sequence[Example], max_length: int | None
) -> list[tuple[list[int], list[int]]]:
    """(ids, assistant mask) per conversation, truncated at `max_length`."""
    rows = []
    for ex in examples:
        out = _chat_ids(tokenizer, ex["messages"], return_assistant_tokens_mask=True)
        ids, mask = list(out["input_ids"]), list(out["assistant_masks"])
        rows.append((ids[:max_length], mask[:max_length]))
    return rows


def sft_loss(
    model: Any,
    tokenizer: Any,
    examples: Sequence[Example],
    *,
    max_length: int | None = 1024,
    batch_size: int = 8,
) -> float:
    """Mean NLL per assistant token over `examples` (``{"messages": ...}``)."""
    was_training = model.training
    model.eval()
    try:
        sums, counts = _sum_logprobs(model, sft_rows(tokenizer, examples, max_length),
                                     tokenizer.pad_token_id, batch_size)
    finally:
        model.train(was_training)
    if counts.sum() == 0:
        raise InputError("sft_loss: no assistant token in the examples (after truncation)")
    return float(-sums.sum() / counts.sum())


def preference_rows(tokenizer: Any, pairs: Sequence[Example],
                    max_length: int | None) -> list[tuple[list[int], list[int]]]:
    """For each pair, the chosen row then the rejected row: (ids, reply mask). Pairs whose
    prompt alone fills `max_length` are left out, as trl leaves them out."""
    rows = []
    for pair in pairs:
        prompt = list(_chat_ids(tokenizer, pair["prompt"], add_generation_prompt=True)["input_ids"])
        if max_length is not None and len(prompt) >= max_length:
            continue
        for side in ("chosen", "rejected"):
            ids = list(_chat_ids(tokenizer, pair["prompt"] + pair[side])["input_ids"])
            start = 0
            while start < min(len(prompt), len(ids)) and prompt[start] == ids[start]:
                start += 1
            mask = [0] * start + [1] * (len(ids) - start)
            rows.append((ids[:max_length], mask[:max_length]))
    return rows


def preference_metrics(policy: Any, reference: Any, tokenizer: Any, pairs: Sequence[Example], *,
                       beta: float = 0.1, max_length: int | None = 1024,
                       batch_size: int = 8) -> dict[str, float]:
    """Implicit-reward accuracy and margins of `policy` against `reference` on `pairs`.

    Returns `reward_accuracy`, `reward_margin` (mean), `chosen_reward`, `rejected_reward`,
    and `logp_accuracy`: the share of pairs where the policy alone gives the chosen reply
    the higher log-probability, which, unlike the reward, is informative before training.
    """
    rows = preference_rows(tokenizer, pairs, max_length)
    if not rows:
        raise InputError(f"preference_metrics: every prompt fills max_length={max_length}")
    logps = {}
    for name, model in (("policy", policy), ("reference", reference)):
        was_training = model.training
        model.eval()
        try:
            logps[name] = _sum_logprobs(model, rows, tokenizer.pad_token_id, batch_size)[0]
        finally:
            model.train(was_training)
    rewards = beta * (logps["policy"] - logps["reference"])
    chosen, rejected = rewards[0::2], rewards[1::2]
    return {
        "pairs": len(rows) // 2,
        "reward_accuracy": float((chosen > rejected).float().mean()),
        "reward_margin": float((chosen - rejected).mean()),
        "chosen_reward": float(chosen.mean()),
        "rejected_reward": float(rejected.mean()),
        "logp_accuracy": float((logps["policy"][0::2] > logps["policy"][1::2]).float().mean()),
    }
