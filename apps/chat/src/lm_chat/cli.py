"""`lm-chat chat` (terminal chat) and `lm-chat serve` (OpenAI-compatible API).

    lm-chat chat --model out/hf --sampling.temperature 0.8 --system "You are terse."
    lm-chat serve --model out/hf --port 8000

Neither writes files: there is no output folder for a resolved config to go next to.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lm_chat.config import ChatConfig, ServeConfig
from lm_chat.generation import ChatModel
from lm_chat.server import serve
from lm_chat.terminal import chat_loop
from lm_core.cli import Command
from lm_core.cli import main as cli_main


def _chat(cfg: ChatConfig) -> None:
    chat = ChatModel.load(cfg.model, device=cfg.device, dtype=cfg.dtype)
    chat_loop(chat, cfg.sampling, system=cfg.system)


def _serve(cfg: ServeConfig) -> None:
    chat = ChatModel.load(cfg.model, device=cfg.device, dtype=cfg.dtype, name=cfg.model_name)
    serve(chat, cfg.sampling, host=cfg.host, port=cfg.port, limits=cfg.limits)


COMMANDS: dict[str, Command] = {
    "chat": Command(ChatConfig, _chat, "chat with a model directory in the terminal"),
    "serve": Command(ServeConfig, _serve, "serve a model directory as an OpenAI-compatible API"),
}


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main("lm-chat", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
