"""The terminal chat driven through its input and output streams, and through the CLI."""

from __future__ import annotations

import io
import sys

import pytest

from lm_chat import ChatModel, SamplingConfig, chat_loop
from lm_chat.cli import main

GREEDY = SamplingConfig(temperature=0.0, max_new_tokens=40)


@pytest.fixture(scope="module")
def chat(model_dir) -> ChatModel:
    return ChatModel.load(model_dir, device="cpu")


def test_multi_turn_reset_and_exit(chat, replies, monkeypatch):
    seen = []
    start = chat.start
    monkeypatch.setattr(
        chat, "start", lambda msgs, s, **k: seen.append(list(msgs)) or start(msgs, s, **k)
    )
    out = io.StringIO()
    n = chat_loop(chat, GREEDY, system="Be brief.",
                  stdin=io.StringIO("Hi\nSay something nice\n/reset\nHi\n/exit\nHi\n"), stdout=out)
    text = out.getvalue()
    assert n == 3
    assert text.count(f"model> {replies['Hi']}\n") == 2
    # (the second reply is untrained: the model learnt replies to single-turn prompts only)
    assert text.count("model> ") == 3 and "(conversation cleared)" in text
    # The second turn carries the first; after /reset only the system prompt and the new question.
    assert [m["role"] for m in seen[1]] == ["system", "user", "assistant", "user"]
    assert seen[1][2]["content"] == replies["Hi"]
    assert seen[2] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]


def test_end_of_input_ends_the_chat(chat):
    out = io.StringIO()
    assert chat_loop(chat, GREEDY, stdin=io.StringIO("Hi\n"), stdout=out) == 1


def test_long_history_drops_the_oldest_turns(chat, monkeypatch):
    seen = []
    start = chat.start
    monkeypatch.setattr(
        chat, "start", lambda msgs, s, **k: seen.append(list(msgs)) or start(msgs, s, **k)
    )
    lines = "".join(f"{'word ' * 40}{i}\n" for i in range(12))
    chat_loop(chat, SamplingConfig(temperature=0.0, max_new_tokens=4), stdin=io.StringIO(lines),
              stdout=io.StringIO())
    assert len(seen) == 12
    last = seen[-1]
    assert last[0]["role"] == "user" and last[-1]["content"].endswith(" 11")
    assert len(chat.prompt_ids(last)) <= chat.context_length
    assert len(last) < 2 * 12 - 1


def test_cli_reads_stdin(model_dir, replies, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hi\n/exit\n"))
    assert main(["chat", "--model", str(model_dir), "--sampling.temperature", "0"]) == 0
    assert f"model> {replies['Hi']}" in capsys.readouterr().out
    assert main(["chat", "--model", str(model_dir / "missing")]) == 2
    assert capsys.readouterr().err == (
        f"lm-chat chat: error: model: {model_dir / 'missing' / 'config.json'} not found\n")
