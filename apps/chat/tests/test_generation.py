"""Streaming detokenisation, stop strings and stop tokens of the shared generation module."""

from __future__ import annotations

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
        assert gen.completion_tokens == len(chat.tokenizer.encode(answer, add_special_tokens=False)) + 1


def test_stop_string_and_token_budget(chat):
    gen = chat.start([{"role": "user", "content": "Hi"}], GREEDY, stop=["there"])
    assert "".join(gen) == "Hello " and gen.finish_reason == "stop"
    gen = chat.start([{"role": "user", "content": "Hi"}], GREEDY, max_new_tokens=2)
    text = "".join(gen)
    assert gen.finish_reason == "length" and gen.completion_tokens == 2 and "Hello there.".startswith(text)


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
