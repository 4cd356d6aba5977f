from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the warcs helper module

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"
WARC = SHARED / "web" / "warc"


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
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not present")
    return SHARED
