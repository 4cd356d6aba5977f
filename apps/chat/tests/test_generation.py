"""Streaming detokenisation, stop strings and stop tokens of the shared generation module."""

from __future__ import annotations

import random

import pytest

from lm_chat import ChatModel, ContextLengthError, IncrementalDecoder, SamplingConfig, StopStrings

GREEDY = SamplingConfig(temperature=0.0, max_new_tokens=40)


@pytest.fixture(scope="module")
def chat(model_dir) -> ChatModel:
    return ChatModel.load(model_dir, device="cpu")


def test_incremental_decoder_never_splits_a_character(chat):
    text = "Très bien! 日本語 🙂 naïve — done"
    ids = chat.tokenizer.encode(text, add_special_tokens=False)
    # The byte-level tokens really do cut characters apart here.
    assert any("\ufffd" in chat.tokenizer.decode([i]) for i in ids)
    decoder = IncrementalDecoder(chat.tokenizer)
    pieces = [decoder.push(i) for i in ids] + [decoder.flush()]
    assert "".join(pieces) == text
    assert not any("\ufffd" in p for p in pieces)


def test_stop_strings_hold_back_a_possible_start_and_cut_at_the_stop():
    stops = StopStrings(["o W", "END"])
    assert stops.push("Hel") == ("Hel", False)
    assert stops.push("lo") == ("l", False)       # "o" may start "o W"
    assert stops.push(" Wor") == ("", True)       # the stop string and what follows are dropped
    other = StopStrings(["END"])
    assert other.push("E") == ("", False) and other.push("x") == ("Ex", False)


def test_greedy_reply_stops_on_end_of_turn(chat, replies):
    for question, answer in replies.items():
        gen = chat.start([{"role": "user", "content": question}], GREEDY)
        assert "".join(gen) == answer
        assert gen.finish_reason == "stop"
        assert (
            gen.completion_tokens
            == len(chat.tokenizer.encode(answer, add_special_tokens=False)) + 1
        )


def test_stop_string_and_token_budget(chat):
    gen = chat.start([{"role": "user", "content": "Hi"}], GREEDY, stop=["there"])
    assert "".join(gen) == "Hello " and gen.finish_reason == "stop"
    gen = chat.start([{"role": "user", "content": "Hi"}], GREEDY, max_new_tokens=2)
    text = "".join(gen)
    assert (
        gen.finish_reason == "length"
        and gen.completion_tokens == 2
        and "Hello there.".startswith(text)
    )


def test_sampling_is_seeded(chat):
    hot = SamplingConfig(temperature=1.5, top_p=1.0, max_new_tokens=12, seed=3)
    msgs = [{"role": "user", "content": "Hi"}]
    assert "".join(chat.start(msgs, hot)) == "".join(chat.start(msgs, hot))


def test_context_length_is_checked_before_generating(chat):
    msgs = [{"role": "user", "content": "Hi"}]
    with pytest.raises(ContextLengthError, match="max_tokens 1000"):
        chat.start(msgs, GREEDY, max_new_tokens=1000)
    with pytest.raises(ContextLengthError, match="context length"):
        chat.start([{"role": "user", "content": "word " * 400}], GREEDY)
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(temperature=-1)


def _reference_stops(text: str, stops: list[str]) -> tuple[str, bool]:
    """What a stop-string filter must emit for `text` fed one character at a time: everything
    before the first stop string to complete (the longest, if several complete together)."""
    for end in range(1, len(text) + 1):
        done = [s for s in stops if text[:end].endswith(s)]
        if done:
            return text[:end - max(map(len, done))], True
    return text, False


def test_stop_strings_match_a_reference_under_any_chunking():
    rng = random.Random(0)
    for _ in range(400):
        stops = ["".join(rng.choices("ab", k=rng.randint(1, 5))) for _ in range(rng.randint(1, 4))]
        text = "".join(rng.choices("abc", k=rng.randint(0, 30)))
        filt, out, stopped, i = StopStrings(stops), "", False, 0
        while i < len(text) and not stopped:
            n = rng.randint(1, 4)
            piece, stopped = filt.push(text[i:i + n])
            out, i = out + piece, i + n
            # Nothing held back except what may still begin a stop string.
            assert stopped or any(s.startswith(filt.pending) for s in stops)
        if not stopped:
            out += filt.flush()
        assert (out, stopped) == _reference_stops(text, stops), (text, stops)


def test_long_stop_strings_hold_back_only_a_possible_start():
    # The worst case of the old prefix-by-prefix check: 4 stop strings of 1 KB that the text
    # keeps almost matching. Each push now costs O(1) per character and stop string.
    stops = ["a" * 1023 + c for c in "bcde"]
    filt = StopStrings(stops)
    emitted = "".join(filt.push("a")[0] for _ in range(3000))
    assert emitted == "a" * (3000 - 1023) and filt.pending == "a" * 1023
    assert filt.push("c") == ("", True)


def test_seed_must_fit_in_63_bits():
    assert SamplingConfig(seed=2**63 - 1).seed == 2**63 - 1
    for seed in (-1, 2**63):
        with pytest.raises(ValueError, match="seed"):
            SamplingConfig(seed=seed)
