"""`lm-chat DIR` (terminal chat) and `lm-chat DIR --serve` (OpenAI-compatible API).

    lm-chat out/hf --temperature 0.8 --system "You are terse."
    lm-chat out/hf --serve --port 8000
"""

from __future__ import annotations

import logging
import sys

import tyro

from lm_chat.config import ChatConfig
from lm_chat.generation import ChatModel
from lm_chat.server import serve
from lm_chat.terminal import chat_loop


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    try:
        cfg = tyro.cli(ChatConfig, args=sys.argv[1:] if argv is None else argv)
        chat = ChatModel.load(cfg.model, device=cfg.device, dtype=cfg.dtype, name=cfg.model_name)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"lm-chat: {e}") from e
    if cfg.serve:
        serve(chat, cfg.sampling, host=cfg.host, port=cfg.port, limits=cfg.limits)
    else:
        chat_loop(chat, cfg.sampling, system=cfg.system)


if __name__ == "__main__":
    main()
