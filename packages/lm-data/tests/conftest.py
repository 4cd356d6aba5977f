from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the warcs helper module, bare_config

SHARED = Path(os.environ.get("LM_SHARED_DATA") or Path(__file__).resolve().parents[4] / "shared" / "data")
WARC = SHARED / "web" / "warc"


def shared_data() -> Path:
    """The shared third-party data: `LM_SHARED_DATA`, else `shared/data` beside the checkout.

    Missing, the tests that need it skip for a developer without the data, but fail under
    `LM_REQUIRE_DATA=1` (CI), so a run without data can never pass vacuously.
    """
    if SHARED.is_dir():
        return SHARED
    message = f"{SHARED} not found: these tests need the shared third-party data (set LM_SHARED_DATA)"
    if os.environ.get("LM_REQUIRE_DATA") == "1":
        pytest.fail(f"{message}; LM_REQUIRE_DATA=1 forbids skipping them", pytrace=False)
    pytest.skip(message)


def bare_config(tmp_path: Path, fmt: str = "jsonl", **sections):
    """Read `tmp_path/in` (format `fmt`) into `tmp_path/run` with every filter and dedup off;
    `sections` replace whole config sections (e.g. `dedup=DedupConfig(...)`)."""
    from lm_data.config import (
        DedupConfig,
        ExtractConfig,
        InputConfig,
        LanguageConfig,
        OutputConfig,
        PipelineConfig,
        QualityConfig,
        URLFilterConfig,
    )

    defaults = dict(
        input=InputConfig(paths=[str(tmp_path / "in")], format=fmt),
        output=OutputConfig(dir=str(tmp_path / "run")),
        extract=ExtractConfig(extractor="none"),
        url_filter=URLFilterConfig(enabled=False),
        language=LanguageConfig(enabled=False),
        quality=QualityConfig(gopher_repetition=False, gopher_quality=False, c4_quality=False,
                              c4_badwords=False, fineweb_quality=False),
        dedup=DedupConfig(exact=False, minhash=False),
    )
    return PipelineConfig(**{**defaults, **sections})


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
