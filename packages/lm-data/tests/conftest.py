from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # lm_data_testdata

SHARED = Path(
    os.environ.get("LM_SHARED_DATA") or Path(__file__).resolve().parents[4] / "shared" / "data"
)
WARC = SHARED / "web" / "warc"


def shared_data() -> Path:
    """The shared third-party data: `LM_SHARED_DATA`, else `shared/data` beside the checkout.

    Missing, the tests that need it skip for a developer without the data, but fail under
    `LM_REQUIRE_DATA=1` (CI), so a run without data can never pass vacuously.
    """
    if SHARED.is_dir():
        return SHARED
    message = (
        f"{SHARED} not found: these tests need the shared third-party data (set LM_SHARED_DATA)"
    )
    if os.environ.get("LM_REQUIRE_DATA") == "1":
        pytest.fail(f"{message}; LM_REQUIRE_DATA=1 forbids skipping them", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may reach the network: any connect() fails loudly."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family == socket.AF_UNIX:  # multiprocess managers talk over local sockets
            return real_connect(sock, address)
        raise AssertionError(f"network access attempted: {address!r}")

    def refuse(address, *args, **kwargs):
        raise AssertionError(f"network access attempted: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def shared() -> Path:
    return shared_data()
