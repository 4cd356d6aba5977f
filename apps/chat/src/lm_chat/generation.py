"""Chat generation shared by the terminal and the server: prompt, sampling, streaming text.

`ChatModel.start(messages, sampling)` renders the tokenizer's chat template, checks the
context window, and returns a `Generation` that yields text pieces as lm-model's KV-cache
`generate` samples tokens. Text is decoded incrementally so a multi-byte character split
across byte-level tokens is emitted only once complete; generation stops on a stop token (the
directory's `generation_config.json` eos ids: eos and end of turn for lm-tok tokenizers), a
stop string (never emitted, nor any text after it) or the token budget.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_model import Transformer, generate
from lm_model import hf as lm_hf

logger = logging.getLogger(__name__)

#: Seeds are 64-bit signed integers in torch (and in most JSON clients); larger ones overflow.
MAX_SEED = 2**63 - 1


@dataclass(kw_only=True)
class SamplingConfig:
    """How replies are sampled."""

    temperature: float = 0.7
    """Softmax temperature; 0 is greedy."""
    top_k: int | None = None
    """Sample among the k most likely tokens only."""
    top_p: float | None = 0.9
    """Nucleus sampling: the smallest set of tokens whose probability reaches top_p."""
    max_new_tokens: int = 256
    """Longest reply in tokens."""
    seed: int | None = None
    """Seed of the sampler, for reproducible replies."""

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature: must be >= 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k: must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p: must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens: must be >= 1, got {self.max_new_tokens}")
        if self.seed is not None and not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed: must be in 0..2**63-1, got {self.seed}")


class IncrementalDecoder:
    """Turns token ids into text pieces without splitting a multi-byte character.

    It decodes a short window of recent tokens twice (with and without the newest) and
    emits the difference once it no longer ends in U+FFFD, the mark of an incomplete UTF-8
    sequence: the scheme of Hugging Face's text-generation-inference.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = 0
        self.read = 0

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def push(self, token: int) -> str:
        """The new text that `token` completes (possibly empty)."""
        self.ids.append(token)
        before = self._decode(self.ids[self.prefix:self.read])
        after = self._decode(self.ids[self.prefix:])
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.prefix, self.read = self.read, len(self.ids)
            return after[len(before):]
        return ""

    def flush(self) -> str:
        """Whatever is left (an incomplete character decodes as U+FFFD)."""
        before = self._decode(self.ids[self.prefix:self.read])
        after = self._decode(self.ids[self.prefix:])
        self.prefix = self.read = len(self.ids)
        return after[len(before):]


def _prefix_function(pattern: str) -> list[int]:
    """Knuth-Morris-Pratt: entry i is the length of the longest proper prefix of
    `pattern[:i + 1]` that is also its suffix."""
    table = [0] * len(pattern)
    k = 0
    for i in range(1, len(pattern)):
        while k and pattern[i] != pattern[k]:
            k = table[k - 1]
        if pattern[i] == pattern[k]:
            k += 1
        table[i] = k
    return table


class StopStrings:
    """Holds back text that may be the start of a stop string; reports when one appears.

    Each stop string has a Knuth-Morris-Pratt matcher fed one character at a time, whose
    state is the longest suffix of the text so far that begins the stop string: that suffix
    is what must be held back. The cost is O(1) amortised per character and stop string,
    where testing every prefix of every stop string at each step was quadratic in their length.
    Generation stops at the first character that completes a stop string; the text is cut
    where that stop string (the longest, if several complete there) begins.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self._tables = [_prefix_function(s) for s in self.stops]
        self._matched = [0] * len(self.stops)  # per stop string: how much of it the text ends with
        self.pending = ""

    def _feed(self, ch: str) -> int:
        """Advance every matcher by `ch`; the length of the longest stop string it completes,
        or 0."""
        done = 0
        for i, (stop, table) in enumerate(zip(self.stops, self._tables, strict=True)):
            k = self._matched[i]
            while k and stop[k] != ch:
                k = table[k - 1]
            if stop[k] == ch:
                k += 1
            if k == len(stop):
                done = max(done, k)
                k = table[k - 1]
            self._matched[i] = k
        return done

    def push(self, text: str) -> tuple[str, bool]:
        """(text safe to emit, whether a stop string was reached)."""
        start = len(self.pending)
        self.pending += text
        for end, ch in enumerate(text, start + 1):
            if done := self._feed(ch):
                out, self.pending = self.pending[:end - done], ""
                self._matched = [0] * len(self.stops)
                return out, True
        keep = max(self._matched, default=0)
        out = self.pending[:len(self.pending) - keep]
        self.pending = self.pending[len(out):]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


class ContextLengthError(ValueError):
    """The prompt, or prompt plus the requested reply, does not fit the model's context."""


class Generation:
    """One reply being generated: iterate it for text pieces; then read the counts."""

    def __init__(self, chat: ChatModel, prompt_ids: list[int], sampling: SamplingConfig,
                 max_new_tokens: int, stop: Sequence[str]) -> None:
        self.chat = chat
        self.prompt_ids = prompt_ids
        self.sampling = sampling
        self.max_new_tokens = max_new_tokens
        self.stop = stop
        self.completion_tokens = 0
        self.finish_reason: str | None = None
        self.text = ""

    @property
    def prompt_tokens(self) -> int:
        return len(self.prompt_ids)

    def __iter__(self) -> Iterator[str]:
        with closing(self.steps()) as steps:
            yield from (piece for piece in steps if piece)

    def steps(self) -> Iterator[str]:
        """The reply one sampled token at a time: the text each token completes, often "".

        For callers that interleave several generations token by token. Closing the iterator
        (or breaking out of it) ends generation and frees its KV cache at once.
        """
        with closing(self._pieces()) as pieces:
            for piece in pieces:
                self.text += piece
                yield piece

    def _pieces(self) -> Iterator[str]:
        s = self.sampling
        decoder, stops = IncrementalDecoder(self.chat.tokenizer), StopStrings(self.stop)
        tokens = generate(self.chat.model, self.prompt_ids, self.max_new_tokens,
                          temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
                          stop_ids=self.chat.stop_ids, seed=s.seed)
        try:
            for token in tokens:
                self.completion_tokens += 1
                if token in self.chat.stop_ids:
                    self.finish_reason = "stop"
                    break
                text, stopped = stops.push(decoder.push(token))
                yield text
                if stopped:
                    self.finish_reason = "stop"
                    return
        finally:
            tokens.close()  # now, not when the garbage collector gets to it
        text, stopped = stops.push(decoder.flush())
        yield text
        if not stopped:
            yield stops.flush()
        self.finish_reason = self.finish_reason or ("stop" if stopped else "length")


class ChatModel:
    """An lm-model with its tokenizer and chat template, loaded from a Hugging Face directory."""

    def __init__(self, model: Transformer, tokenizer: Any, name: str,
                 stop_ids: Iterable[int]) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError(f"{name}: the tokenizer has no chat template (tokenizer_config.json)")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.stop_ids = set(stop_ids)
        if not self.stop_ids:
            raise ValueError(f"{name}: no stop tokens: a reply would never end")

    @classmethod
    def load(cls, directory: str | Path, *, device: str | None = None, dtype: str = "auto",
             name: str | None = None) -> ChatModel:
        """`dtype="auto"`: bfloat16 on CUDA, float32 on CPU."""
        directory = Path(directory)
        stops = lm_hf.stop_ids(directory)  # first: a directory without them fails fast
        model, tokenizer = lm_hf.load_dir(directory, device=device, dtype=dtype)
        return cls(model, tokenizer, name or directory.resolve().name, stops)

    @property
    def context_length(self) -> int:
        return self.model.config.max_seq_len

    def prompt_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The chat template with the assistant's turn opened, as token ids."""
        ids = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True,
                                                 tokenize=True, return_dict=False)
        return list(ids)

    def start(self, messages: Sequence[dict[str, str]], sampling: SamplingConfig, *,
              max_new_tokens: int | None = None, stop: Sequence[str] = ()) -> Generation:
        """A reply to `messages`; `max_new_tokens` (if given) must fit the context window.

        Without it, the reply may use `sampling.max_new_tokens` or whatever room is left.
        """
        ids = self.prompt_ids(messages)
        room = self.context_length - len(ids)
        if room < 1:
            raise ContextLengthError(f"the prompt is {len(ids)} tokens; this model's context "
                                     f"length is {self.context_length}")
        if max_new_tokens is not None and max_new_tokens > room:
            raise ContextLengthError(
                f"max_tokens {max_new_tokens} plus the prompt's {len(ids)} tokens exceeds this "
                f"model's context length of {self.context_length}")
        budget = min(max_new_tokens or sampling.max_new_tokens, room)
        return Generation(self, ids, sampling, budget, stop)
