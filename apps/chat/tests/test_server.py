"""`lm-chat --serve` answers the real OpenAI client, streaming and not, and refuses bad requests."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import openai
import pytest
import uvicorn

from lm_chat import ChatModel, SamplingConfig, create_app


@pytest.fixture(scope="module")
def base_url(model_dir):
    chat = ChatModel.load(model_dir, device="cpu", name="tiny-chat")
    app = create_app(chat, SamplingConfig(temperature=0.0, max_new_tokens=40))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # a free port, held until uvicorn takes the socket
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def client(base_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=30)


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list().data] == ["tiny-chat"]


def test_non_streaming_completion(client, replies):
    resp = client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "Hi"}], temperature=0, max_tokens=20)
    choice = resp.choices[0]
    assert choice.message.role == "assistant" and choice.message.content == replies["Hi"]
    assert choice.finish_reason == "stop" and resp.object == "chat.completion"
    assert resp.usage.completion_tokens > 0
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_streaming_completion(client, replies):
    stream = client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "Say something nice"}],
        temperature=0, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 1, "the reply arrives in several chunks"
    assert "".join(pieces) == replies["Say something nice"]  # multi-byte characters intact
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_stream_ends_with_done(base_url):
    body = {"model": "tiny-chat", "messages": [{"role": "user", "content": "Hi"}], "stream": True,
            "max_tokens": 3}
    with httpx.stream("POST", f"{base_url}/chat/completions", json=body, timeout=30) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line]
    assert events[-1] == "data: [DONE]" and all(e.startswith("data: ") for e in events)
    assert '"finish_reason": "length"' in events[-2]


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"model": "tiny-chat"}, 400, "messages"),
    ({"model": "tiny-chat", "messages": []}, 400, "messages"),
    ({"model": "tiny-chat", "messages": [{"role": "wizard", "content": "x"}]}, 400, "role"),
    ({"model": "tiny-chat", "messages": [{"role": "user", "content": "Hi"}], "temperature": 5}, 400,
     "temperature"),
    ({"model": "tiny-chat", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 100000}, 400,
     "context length"),
    ({"model": "tiny-chat", "messages": [{"role": "user", "content": "Hi"}], "n": 2}, 400, "n"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}, 404, "gpt-4o"),
])
def test_bad_requests_get_openai_style_errors(base_url, body, status, needle):
    r = httpx.post(f"{base_url}/chat/completions", json=body, timeout=30)
    assert r.status_code == status
    error = r.json()["error"]
    assert needle in error["message"] and error["type"] == "invalid_request_error"


def test_openai_client_raises_on_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(openai.BadRequestError, match="context length"):
        client.chat.completions.create(model="tiny-chat", messages=[{"role": "user", "content": "Hi"}],
                                       max_tokens=10_000, stream=True)
