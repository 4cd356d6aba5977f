"""An OpenAI-compatible HTTP API: `POST /v1/chat/completions` (JSON or SSE stream), `GET /v1/models`.

FastAPI validates requests with pydantic and streams with server-sent events; uvicorn
serves it. One model answers one request at a time (a lock), which is what a single
CPU or GPU process can do anyway. Errors use OpenAI's shape,
`{"error": {"message", "type", "param", "code"}}`, with status 400 for a bad request and
404 for an unknown model name.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from lm_chat.generation import ChatModel, Generation, SamplingConfig

logger = logging.getLogger(__name__)


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The fields of OpenAI's request that this server honours; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int = Field(default=1, ge=1, le=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None


class APIError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = status, message, param, code, kind


def _error_response(status: int, message: str, *, param: str | None = None, code: str | None = None,
                    kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse(status_code=status, content={
        "error": {"message": message, "type": kind, "param": param, "code": code}})


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "invalid request", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    return f"{param or 'body'}: {first.get('msg', 'invalid value')}", param


class ChatServer:
    """Binds a `ChatModel` and default sampling to the OpenAI routes."""

    def __init__(self, chat: ChatModel, sampling: SamplingConfig) -> None:
        self.chat = chat
        self.sampling = sampling
        self.lock = threading.Lock()
        self.created = int(time.time())

    def _generation(self, req: ChatCompletionRequest) -> Generation:
        if req.model != self.chat.name:
            raise APIError(404, f"The model '{req.model}' does not exist; this server serves "
                           f"'{self.chat.name}'", param="model", code="model_not_found")
        base = self.sampling
        sampling = SamplingConfig(
            temperature=base.temperature if req.temperature is None else req.temperature,
            top_k=base.top_k, top_p=base.top_p if req.top_p is None else req.top_p,
            max_new_tokens=base.max_new_tokens, seed=base.seed if req.seed is None else req.seed)
        stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        try:
            return self.chat.start(messages, sampling, max_new_tokens=req.max_completion_tokens or req.max_tokens,
                                   stop=stop)
        except ValueError as e:
            raise APIError(400, str(e), param="max_tokens" if "max_tokens" in str(e) else "messages",
                           code="context_length_exceeded") from e

    def complete(self, req: ChatCompletionRequest) -> dict[str, Any]:
        gen = self._generation(req)
        with self.lock:
            text = "".join(gen)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
            "model": self.chat.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": None, "finish_reason": gen.finish_reason}],
            "usage": _usage(gen),
        }

    def stream(self, req: ChatCompletionRequest) -> Iterator[str]:
        gen = self._generation(req)  # errors surface before the first byte is sent
        return self._events(gen, include_usage=bool(req.stream_options and req.stream_options.include_usage))

    def _events(self, gen: Generation, *, include_usage: bool) -> Iterator[str]:
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": self.chat.name}

        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return f"data: {json.dumps({**base, 'choices': [choice], **extra})}\n\n"

        with self.lock:
            yield event({"role": "assistant", "content": ""})
            for piece in gen:
                yield event({"content": piece})
            yield event({}, gen.finish_reason)
        if include_usage:
            yield f"data: {json.dumps({**base, 'choices': [], 'usage': _usage(gen)})}\n\n"
        yield "data: [DONE]\n\n"

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": self.chat.name, "object": "model", "created": self.created, "owned_by": "lm-chat"}]}


def _usage(gen: Generation) -> dict[str, int]:
    return {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
            "total_tokens": gen.prompt_tokens + gen.completion_tokens}


def create_app(chat: ChatModel, sampling: SamplingConfig) -> FastAPI:
    """The FastAPI application serving `chat`."""
    server = ChatServer(chat, sampling)
    app = FastAPI(title="lm-chat", description="OpenAI-compatible chat completions for an lm-model")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return _error_response(400, message, param=param)

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return _error_response(exc.status, exc.message, param=exc.param, code=exc.code, kind=exc.kind)

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return server.models()

    # Plain `def` routes run in a worker thread, so generation never blocks the event loop.
    @app.post("/v1/chat/completions", response_model=None)
    def chat_completions(req: ChatCompletionRequest) -> dict[str, Any] | StreamingResponse:
        if req.stream:
            return StreamingResponse(server.stream(req), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        return server.complete(req)

    return app


def serve(chat: ChatModel, sampling: SamplingConfig, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s: anyone who can reach this address can use the model", host)
    uvicorn.run(create_app(chat, sampling), host=host, port=port, log_level="info")
