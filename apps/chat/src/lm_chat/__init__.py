"""lm-chat: chat with an lm-model directory in the terminal or over an OpenAI-compatible API."""

from lm_chat.config import ChatConfig, ServeConfig
from lm_chat.generation import (
    ChatModel,
    ContextLengthError,
    Generation,
    IncrementalDecoder,
    SamplingConfig,
    StopStrings,
)
from lm_chat.server import ServerLimits, create_app, serve
from lm_chat.terminal import chat_loop

__all__ = [
    "ChatConfig",
    "ChatModel",
    "ContextLengthError",
    "Generation",
    "IncrementalDecoder",
    "SamplingConfig",
    "ServeConfig",
    "ServerLimits",
    "StopStrings",
    "chat_loop",
    "create_app",
    "serve",
]
