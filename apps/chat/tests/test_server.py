"""`lm-chat serve` answers the real OpenAI client, streaming and not, and refuses bad requests."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest
import uvicorn

from lm_chat import ChatModel, SamplingConfig, ServerLimits, create_app
from lm_chat.server import FairLock


@contextmanager
def serving(app) -> Iterator[str]:
    """Run `app` with uvicorn on 127.0.0.1 on a free port; yields the API's base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # a free port, held until uvicorn takes the socket
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def base_url(model_dir):
    chat = ChatModel.load(model_dir, device="cpu", name="tiny-chat")
    with serving(create_app(chat, SamplingConfig(temperature=0.0, max_new_tokens=40))) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=30)


def test_models_lists_the_served_model(client):
    assert [m.id for m in client.models.list().data] == ["tiny-chat"]


def test_non_streaming_completion(client, replies):
    resp = client.chat.completions.create(
        model="tiny-chat",
        messages=[{"role": "user", "content": "Hi"}],
        temperature=0,
        max_tokens=20,
    )
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
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
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


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"model": "tiny-chat"}, 400, "messages"),
        ({"model": "tiny-chat", "messages": []}, 400, "messages"),
        ({"model": "tiny-chat", "messages": [{"role": "wizard", "content": "x"}]}, 400, "role"),
        (
            {
                "model": "tiny-chat",
                "messages": [{"role": "user", "content": "Hi"}],
                "temperature": 5,
            },
            400,
            "temperature",
        ),
        (
            {
                "model": "tiny-chat",
                "messages": [{"role": "user", "content": "Hi"}],
                "max_tokens": 100000,
            },
            400,
            "context length",
        ),
        ({"model": "tiny-chat", "messages": [{"role": "user", "content": "Hi"}], "n": 2}, 400, "n"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}, 404, "gpt-4o"),
    ],
)
def test_bad_requests_get_openai_style_errors(base_url, body, status, needle):
    r = httpx.post(f"{base_url}/chat/completions", json=body, timeout=30)
    assert r.status_code == status
    error = r.json()["error"]
    assert needle in error["message"] and error["type"] == "invalid_request_error"


def test_openai_client_raises_on_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(openai.BadRequestError, match="context length"):
        client.chat.completions.create(
            model="tiny-chat",
            messages=[{"role": "user", "content": "Hi"}],
            max_tokens=10_000,
            stream=True,
        )


# --- Limits, disconnects and concurrency -------------------------------------------------

HI = [{"role": "user", "content": "Hi"}]


def _body(**fields) -> dict:
    return {"model": "tiny-chat", "messages": HI, **fields}


def _post(base_url: str, body: dict, timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{base_url}/chat/completions", json=body, timeout=timeout)


@pytest.mark.parametrize(("fields", "param"), [
    ({"messages": [{"role": "user", "content": "x"}] * 257}, "messages"),
    ({"messages": [{"role": "user", "content": "x" * 65_537}]}, "messages.0.content"),
    ({"messages": [*HI, {"role": "user", "content": [{"type": "text", "text": "y" * 65_537}]}]},
     "messages.1.content"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"stop": "s" * 1025}, "stop"),
    ({"max_tokens": 10**30}, "max_tokens"),
    ({"max_completion_tokens": 257}, "max_completion_tokens"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"seed": 2**63}, "seed"),
    ({"seed": -1}, "seed"),
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": 2.5}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"n": 2}, "n"),
])
@pytest.mark.parametrize("stream", [False, True])
def test_over_limit_requests_get_400_naming_the_parameter(base_url, fields, param, stream):
    r = _post(base_url, _body(stream=stream, **fields))
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert param in error["message"]


def test_limits_are_inclusive(base_url):
    body = _body(messages=[{"role": "user", "content": "x"}] * 2, stop=["a" * 1024, "b", "c", "d"],
                 seed=2**63 - 1, temperature=2, top_p=1, max_tokens=3)
    assert _post(base_url, body).status_code == 200


def test_largest_seed_streams_to_the_end(base_url):
    """The largest seed allowed streams to the end (a larger one used to break the stream once
    begun)."""
    body = _body(stream=True, temperature=1.0, seed=2**63 - 1, max_tokens=5)
    with httpx.stream("POST", f"{base_url}/chat/completions", json=body, timeout=30) as r:
        events = [line for line in r.iter_lines() if line]
    assert r.status_code == 200 and events[-1] == "data: [DONE]"


def test_oversized_body_is_refused_before_parsing(base_url):
    big = json.dumps(_body(messages=[{"role": "user", "content": "x" * (1 << 20)}])).encode()
    r = httpx.post(f"{base_url}/chat/completions", content=big, timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413 and "bytes" in r.json()["error"]["message"]

    def chunks():  # no Content-Length: the server must count as it reads
        for i in range(0, len(big), 65_536):
            yield big[i:i + 65_536]
    r = httpx.post(f"{base_url}/chat/completions", content=chunks(), timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["type"] == "invalid_request_error"


def test_unknown_routes_and_bad_json_get_openai_errors(base_url):
    assert httpx.get(f"{base_url}/nope", timeout=30).json()["error"]["message"] == "Not Found"
    r = httpx.post(f"{base_url}/chat/completions", content=b"[" * 100_000, timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and "error" in r.json()


def test_limits_validate_their_fields():
    with pytest.raises(ValueError, match="max_stop"):
        ServerLimits(max_stop=0)


@pytest.fixture(scope="module")
def slow(model_dir):
    """A server whose model never ends a reply by itself and takes ~20 ms a step, so a stream
    is still running when a client drops it; at most 2 requests in flight."""
    chat = ChatModel.load(model_dir, device="cpu", name="tiny-chat")
    chat.stop_ids = set()
    chat.model.register_forward_hook(lambda *_: time.sleep(0.02))
    app = create_app(chat, SamplingConfig(temperature=0.0, max_new_tokens=40),
                     ServerLimits(max_concurrent_requests=2))
    with serving(app) as url:
        yield url, app.state.server


def _wait_idle(server, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while server.active:
        assert time.monotonic() < deadline, f"{server.active} request(s) still in flight"
        time.sleep(0.05)


def _open_stream(
    client: httpx.Client, url: str, max_tokens: int = 200
) -> tuple[httpx.Response, Iterator[str]]:
    """A streaming reply of which the first event (the role chunk) has been read; the line
    iterator must be kept (dropping it closes the response)."""
    request = client.build_request("POST", f"{url}/chat/completions",
                                   json=_body(stream=True, max_tokens=max_tokens))
    response = client.send(request, stream=True)
    lines = response.iter_lines()
    assert next(lines).startswith("data: ")
    return response, lines


def test_a_dropped_stream_does_not_block_the_next_request(slow):
    url, server = slow
    with httpx.Client(timeout=30) as client:
        response, lines = _open_stream(client, url)
        assert '"content"' in next(line for line in lines if line)  # generation is under way
        response.close()  # drop the connection mid-reply
    # A suspended generator used to keep the model's lock until the garbage collector ran.
    r = _post(url, _body(max_tokens=3), timeout=15)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 3
    _wait_idle(server)  # the dropped generation was closed, not left to the garbage collector


def test_too_many_requests_in_flight_get_429(slow):
    url, server = slow
    _wait_idle(server)
    with httpx.Client(timeout=30) as a, httpx.Client(timeout=30) as b:
        streams = [_open_stream(a, url), _open_stream(b, url)]
        r = _post(url, _body(max_tokens=1))
        assert r.status_code == 429 and r.json()["error"]["code"] == "server_busy"
        assert server.active == 2
        for response, _ in streams:
            response.close()
    _wait_idle(server)
    assert _post(url, _body(max_tokens=1)).status_code == 200


def test_concurrent_streams_each_get_their_own_greedy_reply(base_url, model_dir):
    prompts = ["Hi", "Say something nice", "Hello", "What is this?"]
    chat = ChatModel.load(model_dir, device="cpu")
    greedy = SamplingConfig(temperature=0.0, max_new_tokens=40)
    alone = {
        p: "".join(chat.start([{"role": "user", "content": p}], greedy, max_new_tokens=40))
        for p in prompts
    }
    client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=60)
    barrier = threading.Barrier(len(prompts))
    got: dict[str, str] = {}

    def ask(prompt: str) -> None:
        barrier.wait()
        stream = client.chat.completions.create(
            model="tiny-chat",
            messages=[{"role": "user", "content": prompt}],
            temperature=0,
            max_tokens=40,
            stream=True,
        )
        got[prompt] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    threads = [threading.Thread(target=ask, args=(p,)) for p in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert got == alone


def test_fair_lock_serves_waiters_in_arrival_order():
    lock, order = FairLock(), []

    def take(name: str) -> None:
        with lock:
            order.append(name)

    lock.__enter__()
    threads = []
    for name in "abc":
        threads.append(threading.Thread(target=take, args=(name,)))
        threads[-1].start()
        while lock.waiting < len(threads):  # queue them in a known order
            time.sleep(0.001)
    lock.__exit__()
    take("holder")  # asking again right away: it must wait behind a, b and c
    for t in threads:
        t.join(timeout=10)
    assert order == ["a", "b", "c", "holder"]
