"""The terminal chat: read a line, stream the reply token by token, keep the history."""

from __future__ import annotations

import sys
from typing import TextIO

from lm_chat.generation import ChatModel, SamplingConfig

HELP = "Type a message and press Enter. /reset starts a new conversation, /exit quits."


def _fit(chat: ChatModel, history: list[dict[str, str]], reply_tokens: int) -> list[dict[str, str]]:
    """Drop the oldest turns (never the system prompt) until the prompt leaves room for a reply."""
    system = [m for m in history[:1] if m["role"] == "system"]
    turns = history[len(system):]
    while (
        len(turns) > 1 and len(chat.prompt_ids(system + turns)) + reply_tokens > chat.context_length
    ):
        turns = turns[1:]
        while turns and turns[0]["role"] != "user":
            turns = turns[1:]
    return system + turns


def chat_loop(chat: ChatModel, sampling: SamplingConfig, *, system: str | None = None,
              stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Chat until /exit or end of input; returns the number of replies given."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    base = [{"role": "system", "content": system}] if system else []
    history = list(base)
    replies = 0
    stdout.write(f"lm-chat with {chat.name} (context {chat.context_length} tokens). {HELP}\n")
    while True:
        stdout.write("you> ")
        stdout.flush()
        line = stdin.readline()
        if not line or line.strip() == "/exit":
            stdout.write("\n" if not line else "")
            return replies
        text = line.strip()
        if not text:
            continue
        if text == "/reset":
            history = list(base)
            stdout.write("(conversation cleared)\n")
            continue
        if text.startswith("/") and text.split()[0] in ("/help", "/?"):
            stdout.write(HELP + "\n")
            continue
        history = _fit(
            chat, [*history, {"role": "user", "content": text}], min(sampling.max_new_tokens, 16)
        )
        try:
            gen = chat.start(history, sampling)
        except ValueError as e:
            stdout.write(f"(cannot reply: {e})\n")
            history = history[:-1]
            continue
        stdout.write("model> ")
        for piece in gen:
            stdout.write(piece)
            stdout.flush()
        stdout.write("\n" if gen.finish_reason == "stop" else " [reply cut at the token limit]\n")
        history.append({"role": "assistant", "content": gen.text})
        replies += 1
