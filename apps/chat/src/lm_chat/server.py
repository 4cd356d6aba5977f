"""An OpenAI-compatible HTTP API: `POST /v1/chat/completions` (JSON or SSE stream),
`GET /v1/models`.

FastAPI validates requests with pydantic and streams with server-sent events; uvicorn
serves it. One model process computes one step at a time, so requests take turns token by
token (a first-come-first-served lock held per step, never across a `yield`): concurrent
clients all progress, and a slow or vanished client holds nothing. `ServerLimits` bounds
what one request may ask. Errors use OpenAI's shape,
`{"error": {"message", "type", "param", "code"}}`: 400 for a bad request, 404 for an
unknown model name, 413 for an oversized body, 429 when too many requests are in flight.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as ASGIMessage

from lm_chat.generation import MAX_SEED, ChatModel, Generation, SamplingConfig

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class ServerLimits:
    """What one request may ask of the server, so that no client can monopolise it."""

    max_body_bytes: int = 1 << 20
    """Largest request body in bytes; a larger one is refused (413) before it is parsed."""
    max_messages: int = 256
    """Most messages in one request."""
    max_message_chars: int = 65_536
    """Longest content of one message, in characters."""
    max_stop: int = 4
    """Most stop strings in one request (OpenAI's limit)."""
    max_stop_chars: int = 1024
    """Longest stop string, in characters."""
    max_concurrent_requests: int = 16
    """Requests in flight at once (each holds a KV cache and takes turns); more get 429."""

    def __post_init__(self) -> None:
        for name in (
            "max_body_bytes",
            "max_messages",
            "max_message_chars",
            "max_stop",
            "max_stop_chars",
            "max_concurrent_requests",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str | list[TextPart]

    def text(self) -> str:
        return (
            self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        )


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
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)
    stream: bool = False
    stream_options: StreamOptions | None = None


class APIError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None,
                 code: str | None = None, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.kind = (
            status,
            message,
            param,
            code,
            kind,
        )


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


class FairLock:
    """A lock granted first come, first served.

    `threading.Lock` is not fair: a thread that releases it and at once asks again usually
    wins, so a request generating token after token would starve the others.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()
        self._held = False

    def __enter__(self) -> None:
        me = object()
        with self._cond:
            self._queue.append(me)
            try:
                self._cond.wait_for(lambda: not self._held and self._queue[0] is me)
            except BaseException:  # interrupted while waiting: give up the place in the queue
                self._queue.remove(me)
                self._cond.notify_all()
                raise
            self._queue.popleft()
            self._held = True

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    @property
    def waiting(self) -> int:
        """Threads queued for the lock."""
        with self._cond:
            return len(self._queue)


class _ClosingStream(StreamingResponse):
    """A `StreamingResponse` that closes its event generator when the response ends, however it
    ends.

    When a client disconnects, Starlette abandons a sync iterator where it stands and leaves
    it to the garbage collector, which may not run for seconds; closing it here ends the
    generation, frees its KV cache and its admission slot at once.
    """

    def __init__(
        self, events: Generator[str, None, None], on_close: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(events, **kwargs)
        self._events, self._on_close = events, on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Synchronous and quick (no lock is taken); no worker thread is running the generator:
            # Starlette waits for one before it gives up on the stream.
            try:
                self._events.close()
            finally:
                self._on_close()


class ChatServer:
    """Binds a `ChatModel`, default sampling and request limits to the OpenAI routes."""

    def __init__(
        self, chat: ChatModel, sampling: SamplingConfig, limits: ServerLimits | None = None
    ) -> None:
        self.chat = chat
        self.sampling = sampling
        self.limits = limits or ServerLimits()
        self.turns = FairLock()
        self.created = int(time.time())
        self._admission = threading.Lock()
        self.active = 0
        """Requests admitted and not yet finished."""

    def _admit(self) -> Callable[[], None]:
        """Count a request in, or refuse it (429); returns the idempotent release."""
        with self._admission:
            if self.active >= self.limits.max_concurrent_requests:
                raise APIError(
                    429,
                    f"the server is busy: {self.active} requests are in flight "
                    f"(max_concurrent_requests {self.limits.max_concurrent_requests}); retry later",
                    code="server_busy",
                    kind="rate_limit_error",
                )
            self.active += 1
        released = False

        def release() -> None:
            nonlocal released
            with self._admission:
                if not released:
                    released = True
                    self.active -= 1
        return release

    def _check(self, req: ChatCompletionRequest) -> None:
        """Refuse, before any tokenisation, what this server does not serve or allow."""
        if req.model != self.chat.name:
            raise APIError(404, f"The model '{req.model}' does not exist; this server serves "
                           f"'{self.chat.name}'", param="model", code="model_not_found")
        lim = self.limits
        if len(req.messages) > lim.max_messages:
            raise APIError(
                400,
                f"messages: {len(req.messages)} messages, more than this server's limit of "
                f"{lim.max_messages}",
                param="messages",
                code="too_many_messages",
            )
        for i, m in enumerate(req.messages):
            if (n := len(m.text())) > lim.max_message_chars:
                raise APIError(
                    400,
                    f"messages.{i}.content: {n} characters, more than this server's limit of "
                    f"{lim.max_message_chars}",
                    param=f"messages.{i}.content",
                    code="message_too_long",
                )
        stop = _stop_list(req)
        if len(stop) > lim.max_stop:
            raise APIError(
                400,
                f"stop: {len(stop)} stop strings, more than the limit of {lim.max_stop}",
                param="stop",
                code="too_many_stop_strings",
            )
        if any(len(s) > lim.max_stop_chars for s in stop):
            raise APIError(
                400,
                f"stop: a stop string is longer than the limit of {lim.max_stop_chars} characters",
                param="stop",
                code="stop_string_too_long",
            )
        param, wanted = _max_tokens(req)
        if wanted is not None and wanted > self.chat.context_length:
            raise APIError(
                400,
                f"{param} {wanted} exceeds this model's context length of "
                f"{self.chat.context_length}",
                param=param,
                code="context_length_exceeded",
            )

    def _generation(self, req: ChatCompletionRequest) -> Generation:
        self._check(req)
        base = self.sampling
        try:
            sampling = SamplingConfig(
                temperature=base.temperature if req.temperature is None else req.temperature,
                top_k=base.top_k,
                top_p=base.top_p if req.top_p is None else req.top_p,
                max_new_tokens=base.max_new_tokens,
                seed=base.seed if req.seed is None else req.seed,
            )
        except ValueError as e:  # the request's own bounds should catch these first
            raise APIError(400, str(e), param=str(e).split(":")[0]) from e
        messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        param, wanted = _max_tokens(req)
        try:
            return self.chat.start(messages, sampling, max_new_tokens=wanted, stop=_stop_list(req))
        except ValueError as e:
            raise APIError(400, str(e), param=param if "max_tokens" in str(e) else "messages",
                           code="context_length_exceeded") from e

    def _pieces(self, gen: Generation) -> Iterator[str]:
        """`gen`'s text, computed one token at a time under `turns`: concurrent requests
        interleave token by token, and a suspended stream holds no lock."""
        steps = gen.steps()
        try:
            while True:
                with self.turns:
                    piece = next(steps, None)
                if piece is None:
                    return
                if piece:
                    yield piece
        finally:
            steps.close()

    def complete(self, req: ChatCompletionRequest) -> dict[str, Any]:
        release = self._admit()
        try:
            gen = self._generation(req)
            text = "".join(self._pieces(gen))
        finally:
            release()
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.chat.name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": gen.finish_reason,
                }
            ],
            "usage": _usage(gen),
        }

    def stream(self, req: ChatCompletionRequest) -> StreamingResponse:
        release = self._admit()
        try:
            gen = self._generation(req)  # errors surface before the first byte is sent
        except BaseException:
            release()
            raise
        events = self._events(
            gen, include_usage=bool(req.stream_options and req.stream_options.include_usage)
        )
        return _ClosingStream(
            events, release, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    def _events(self, gen: Generation, *, include_usage: bool) -> Generator[str, None, None]:
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": self.chat.name}

        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return f"data: {json.dumps({**base, 'choices': [choice], **extra})}\n\n"

        yield event({"role": "assistant", "content": ""})
        with closing(self._pieces(gen)) as pieces:
            for piece in pieces:
                yield event({"content": piece})
        yield event({}, gen.finish_reason)
        if include_usage:
            yield f"data: {json.dumps({**base, 'choices': [], 'usage': _usage(gen)})}\n\n"
        yield "data: [DONE]\n\n"

    def models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": self.chat.name,
                    "object": "model",
                    "created": self.created,
                    "owned_by": "lm-chat",
                }
            ],
        }


def _stop_list(req: ChatCompletionRequest) -> list[str]:
    return [req.stop] if isinstance(req.stop, str) else list(req.stop or [])


def _max_tokens(req: ChatCompletionRequest) -> tuple[str, int | None]:
    """(the parameter that sets the reply's length, its value): `max_completion_tokens` wins."""
    if req.max_completion_tokens is not None:
        return "max_completion_tokens", req.max_completion_tokens
    return "max_tokens", req.max_tokens


class BodyLimit:
    """ASGI middleware refusing (413) a request body over `max_bytes` before the app parses it.

    A declared Content-Length is checked first; a chunked body is counted as it arrives and
    then handed to the app whole.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> ASGIMessage:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _error_response(
            413,
            f"the request body exceeds this server's limit of {self.max_bytes} bytes",
            code="request_too_large",
        )
        await response(scope, receive, send)


def _usage(gen: Generation) -> dict[str, int]:
    return {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
            "total_tokens": gen.prompt_tokens + gen.completion_tokens}


def create_app(
    chat: ChatModel, sampling: SamplingConfig, limits: ServerLimits | None = None
) -> FastAPI:
    """The FastAPI application serving `chat`; its `ChatServer` is `app.state.server`."""
    server = ChatServer(chat, sampling, limits)
    app = FastAPI(title="lm-chat", description="OpenAI-compatible chat completions for an lm-model")
    app.state.server = server
    app.add_middleware(BodyLimit, max_bytes=server.limits.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return _error_response(400, message, param=param)

    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> JSONResponse:
        return _error_response(
            exc.status, exc.message, param=exc.param, code=exc.code, kind=exc.kind
        )

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        # Unknown routes, wrong methods, unparseable bodies: OpenAI's shape, not FastAPI's
        # {"detail"}.
        return _error_response(exc.status_code, str(exc.detail))

    # async: answered on the event loop, never queued behind generation for a worker thread.
    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return server.models()

    # Plain `def` routes run in a worker thread, so generation never blocks the event loop.
    @app.post("/v1/chat/completions", response_model=None)
    def chat_completions(req: ChatCompletionRequest) -> dict[str, Any] | StreamingResponse:
        if req.stream:
            return server.stream(req)
        return server.complete(req)

    return app


def serve(chat: ChatModel, sampling: SamplingConfig, *, host: str = "127.0.0.1", port: int = 8000,
          limits: ServerLimits | None = None) -> None:
    """Run the API with uvicorn until interrupted."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s: anyone who can reach this address can use the model", host)
    uvicorn.run(create_app(chat, sampling, limits), host=host, port=port, log_level="info")
