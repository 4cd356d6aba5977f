from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from lm_core.testing import shared_data as _shared_data
from lm_core.testing import shared_data_dir

sys.path.insert(0, str(Path(__file__).parent))  # lm_data_testdata

SHARED = shared_data_dir(__file__)
WARC = SHARED / "web" / "warc"


def shared_data() -> Path:
    """The shared third-party data (see `lm_core.testing`): skips, or fails in CI, without it."""
    return _shared_data(__file__)


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
