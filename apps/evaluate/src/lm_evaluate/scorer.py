"""Token-level scoring of an lm-model: batched log-likelihoods, rolling NLL, greedy generation.

Every task (ours and lm-eval's, through the adapter) goes through `Scorer`, so there is one
place that pads, truncates and reads log-probabilities.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from lm_evaluate.config import ConfigError, InputError
from lm_model import Transformer, generate
from lm_model import hf as lm_hf

logger = logging.getLogger(__name__)


@dataclass
class TokenRequest:
    """Score `continuation` given `context` (token ids; the context is never empty)."""

    context: list[int]
    continuation: list[int]


class Scorer:
    """Log-likelihoods of continuations under a model, in padded batches.

    Requests whose model input is identical (e.g. the four one-token answer letters of an
    MMLU question) share one forward pass. Inputs longer than the context window lose their
    oldest tokens, never the continuation's.
    """

    def __init__(self, model: Transformer, tokenizer: object, *, batch_size: int = 16,
                 max_length: int | None = None, progress: bool = False,
                 max_logit_elements: int = 1 << 26, stop_ids: Sequence[int] = ()) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if max_logit_elements < 1:
            raise ValueError(f"max_logit_elements must be >= 1, got {max_logit_elements}")
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = min(max_length or model.config.max_seq_len, model.config.max_seq_len)
        self.progress = progress
        # The output head runs on at most this many positions at once: 2^26 fp32 logits are
        # 256 MiB, where a batch of 16 windows of 8,192 positions over a 128k vocabulary
        # would be 64 GiB.
        self.max_logit_rows = max(1, max_logit_elements // model.config.vocab_size)
        self.device = next(model.parameters()).device
        self.bos_id = _token_id(tokenizer, "bos_token_id")
        self.eos_id = _token_id(tokenizer, "eos_token_id")
        self.pad_id = _token_id(tokenizer, "pad_token_id", default=self.eos_id)
        #: Where generation ends: eos and the model directory's other stop ids (end of turn).
        self.stop_ids = {self.eos_id, *map(int, stop_ids)}

    # -- text helpers ----------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Ids of `text`, with no special tokens added."""
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def encode_pair(self, context: str, continuation: str) -> TokenRequest:
        """Encode context+continuation jointly, as a model saw them, then split.

        Trailing whitespace of the context moves to the continuation (as lm-eval does), and
        the context always starts with bos, the token every training document starts with.
        """
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces:
            context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
        whole = self.encode(context + continuation)
        ctx = self.encode(context)
        if whole[:len(ctx)] != ctx:  # the tokenizer merged across the boundary
            return TokenRequest([self.bos_id, *ctx], self.encode(continuation))
        return TokenRequest([self.bos_id, *ctx], whole[len(ctx):])

    # -- scoring ---------------------------------------------------------------------------
    def _input(self, req: TokenRequest) -> tuple[int, ...]:
        if not req.context:
            raise ValueError("a request needs a non-empty context (at least bos)")
        if not req.continuation:
            raise ValueError("a request needs a non-empty continuation")
        if len(req.continuation) > self.max_length:
            raise ValueError(f"continuation of {len(req.continuation)} tokens exceeds the "
                             f"context window of {self.max_length}")
        whole = req.context + req.continuation
        return tuple(whole[-(self.max_length + 1):][:-1])

    @torch.inference_mode()
    def loglikelihood(self, requests: Sequence[TokenRequest]) -> list[tuple[float, bool]]:
        """(sum of log p(continuation | context), whether greedy decoding gives it) per request."""
        inputs = [self._input(r) for r in requests]
        unique = sorted(set(inputs), key=len, reverse=True)
        row_of = {inp: i for i, inp in enumerate(unique)}
        by_input: dict[int, list[int]] = {}
        for k, inp in enumerate(inputs):
            by_input.setdefault(row_of[inp], []).append(k)
        results: list[tuple[float, bool]] = [(0.0, False)] * len(requests)
        batches = range(0, len(unique), self.batch_size)
        quiet = not self.progress or len(batches) < 4
        for start in tqdm(batches, desc="scoring", disable=quiet, leave=False):
            chunk = unique[start:start + self.batch_size]
            hidden = self._hidden(chunk)
            ks = [k for j in range(len(chunk)) for k in by_input[start + j]]
            spans = [(j, len(inp) - len(requests[k].continuation), len(inp))
                     for j, inp in enumerate(chunk) for k in by_input[start + j]]
            targets = [requests[k].continuation for k in ks]
            for k, result in zip(ks, self._score(hidden, spans, targets), strict=True):
                results[k] = result
        return results

    def _hidden(self, chunk: list[tuple[int, ...]]) -> torch.Tensor:
        """Final hidden states of right-padded inputs; causal attention keeps padding out."""
        width = len(chunk[0])
        batch = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
        for j, inp in enumerate(chunk):
            batch[j, :len(inp)] = torch.tensor(inp, dtype=torch.long)
        return self.model.hidden(batch.to(self.device))

    def _score(self, hidden: torch.Tensor, spans: list[tuple[int, int, int]],
               targets: list[list[int]]) -> list[tuple[float, bool]]:
        """Log-probability and greedy match of each target, applying the output head only to
        the scored positions, at most `max_logit_rows` of them at a time."""
        rows = torch.cat([hidden[j, lo:hi] for j, lo, hi in spans])
        target = torch.tensor([t for ts in targets for t in ts], device=rows.device)
        logprobs, hits = [], []
        for lo in range(0, len(rows), self.max_logit_rows):
            logits = self.model.output(rows[lo:lo + self.max_logit_rows]).float()
            tgt = target[lo:lo + self.max_logit_rows]
            logprobs.append(logits.log_softmax(-1).gather(-1, tgt[:, None]).squeeze(-1))
            hits.append(logits.argmax(-1) == tgt)
        per_target = torch.cat(logprobs).split([len(t) for t in targets])
        per_hit = torch.cat(hits).split([len(t) for t in targets])
        return [
            (lp.sum().item(), bool(hit.all())) for lp, hit in zip(per_target, per_hit, strict=True)
        ]

    def rolling_windows(self, ids: Sequence[int], stride: int | None = None) -> list[TokenRequest]:
        """Sliding windows that score every token of `ids` exactly once.

        The sequence is bos + ids; the first window scores up to `max_length` tokens, each
        later one advances by `stride` tokens and keeps up to `max_length - stride` tokens
        of the previous text as context (the Hugging Face perplexity recipe).
        """
        stride = stride or self.max_length
        if not 0 < stride <= self.max_length:
            raise ConfigError(f"stride must be in 1..{self.max_length}, got {stride}")
        seq = [self.bos_id, *ids]
        windows = []
        done = 1  # seq[:done] is context only or already scored
        while done < len(seq):
            end = min(len(seq), self.max_length + 1 if done == 1 else done + stride)
            start = max(0, end - self.max_length - 1)
            windows.append(TokenRequest(seq[start:done], seq[done:end]))
            done = end
        return windows

    def rolling_nll(self, ids: Sequence[int], stride: int | None = None) -> float:
        """Total negative log-likelihood in nats of `ids` after bos."""
        return -sum(lp for lp, _ in self.loglikelihood(self.rolling_windows(ids, stride)))

    # -- generation ------------------------------------------------------------------------
    def generate_text(self, prompt_ids: Sequence[int], *, max_new_tokens: int,
                      stop: Sequence[str] = (), stop_ids: Sequence[int] = (),
                      temperature: float = 0.0, seed: int | None = None) -> str:
        """Continuation of `prompt_ids` (greedy by default), cut at the first stop string or at
        a stop token: the scorer's `stop_ids` or the extra ones given here."""
        room = self.model.config.max_seq_len - max_new_tokens
        if room < 1:
            raise ConfigError(f"max_new_tokens {max_new_tokens} leaves no room for a prompt "
                             f"(max_seq_len {self.model.config.max_seq_len})")
        prompt = list(prompt_ids)[-room:]
        stops = self.stop_ids | set(stop_ids)
        out: list[int] = []
        text = ""
        for token in generate(self.model, prompt, max_new_tokens, temperature=temperature,
                              stop_ids=stops, seed=seed):
            if token in stops:
                break
            out.append(token)
            # Decoding the whole reply each step is cheap next to a forward pass, and never
            # splits a multi-byte character.
            text = self.tokenizer.decode(out, skip_special_tokens=True)
            if any(s in text for s in stop):
                break
        return cut_at_stop(text, stop)


def load_scorer(directory: str | Path, *, device: str | None = None, dtype: str = "auto",
                batch_size: int = 16, max_length: int | None = None,
                progress: bool = False) -> Scorer:
    """A `Scorer` over a model directory opened by lm-model's one loader (`load_dir`), whose
    generations stop at the directory's stop ids (`generation_config.json`)."""
    stops = lm_hf.stop_ids(directory)  # first: a directory without them fails before loading
    model, tokenizer = lm_hf.load_dir(directory, device=device, dtype=dtype)
    return Scorer(model, tokenizer, batch_size=batch_size, max_length=max_length,
                  progress=progress, stop_ids=stops)


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to the earliest occurrence of any stop string."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]


def bits_per_byte(nll_nats: float, n_bytes: int) -> float:
    return nll_nats / (math.log(2) * n_bytes)


def _token_id(tokenizer: object, attr: str, default: int | None = None) -> int:
    value = getattr(tokenizer, attr, None)
    if value is None:
        if default is None:
            raise InputError(
                f"tokenizer has no {attr.removesuffix('_id')}: check tokenizer_config.json"
            )
        return default
    return int(value)
