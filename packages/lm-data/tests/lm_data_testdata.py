"""Test data for lm-data: small, deliberately broken WARC files and a bare pipeline config.

A module with a name of its own (not `conftest`): pytest runs every package's tests in one
process, where `from conftest import ...` would get whichever conftest was imported first.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

PARAGRAPH = (
    "The river valley was quiet in the early morning, and the farmers walked slowly to their "
    "fields. They talked about the weather, the price of grain and the new school that the town "
    "was building. Children followed them with baskets of bread and cheese for the long day of "
    "work ahead of them. "
)


def page(title: str, paragraphs: int = 6, extra: str = "") -> str:
    body = "".join(f"<p>{PARAGRAPH} {title} {i}.</p>\n" for i in range(paragraphs))
    return (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        f"{body}{extra}</article></body></html>"
    )


def record(
    writer: WARCWriter, url: str, body: bytes, content_type: str = "text/html; charset=utf-8"
):
    headers = [("Content-Type", content_type)] if content_type else []
    http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
    return writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)


def write_records(path: Path, records: list[tuple], gzip_members: bool) -> list[bytes]:
    """Write each (url, body, content_type) as a record; returns each record's bytes."""
    chunks = []
    for url, body, ctype in records:
        buf = io.BytesIO()
        w = WARCWriter(buf, gzip=gzip_members)
        w.write_record(record(w, url, body, ctype))
        chunks.append(buf.getvalue())
    path.write_bytes(b"".join(chunks))
    return chunks


def broken_gz_warc(path: Path) -> dict[str, int]:
    """A .warc.gz with good, charset-less, wrong-charset, empty, enormous, non-HTML and truncated
    records."""
    latin = page("Café Crème").encode("latin-1")
    records = [
        ("http://example.com/good", page("Good page").encode(), "text/html; charset=utf-8"),
        ("http://example.com/undeclared", latin, "text/html"),
        ("http://example.com/wrong", latin, "text/html; charset=utf-8"),
        ("http://example.com/empty", b"", "text/html"),
        ("http://example.com/huge", page("Huge", paragraphs=1200).encode(), "text/html"),
        ("http://example.com/logo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png"),
        ("http://example.com/truncated", page("Truncated page").encode(), "text/html"),
    ]
    chunks = write_records(path, records, gzip_members=True)
    # cut the last gzip member in half: a download that stopped early
    data = b"".join(chunks[:-1]) + chunks[-1][: len(chunks[-1]) // 2]
    path.write_bytes(data)
    return {"records": len(records)}


def wrong_length_warc(path: Path) -> None:
    """A plain .warc whose second record declares a Content-Length 40 bytes too short."""
    records = [
        (f"http://example.org/{i}", page(f"Page {i}").encode(), "text/html") for i in range(3)
    ]
    chunks = write_records(path, records, gzip_members=False)
    bad = chunks[1]
    head, sep, rest = bad.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for j, line in enumerate(lines):
        if line.lower().startswith(b"content-length:"):
            lines[j] = b"Content-Length: %d" % (int(line.split(b":")[1]) - 40)
    chunks[1] = b"\r\n".join(lines) + sep + rest
    path.write_bytes(b"".join(chunks))


def gz(path: Path, text: str) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)


def bare_config(tmp_path: Path, fmt: str = "jsonl", **sections):
    """Read `tmp_path/in` (format `fmt`) into `tmp_path/run` with every filter and dedup off;
    `sections` replace whole config sections (e.g. `dedup=DedupConfig(...)`, `inputs=[...]`)."""
    from lm_data.config import (
        CurationConfig,
        DedupConfig,
        ExtractConfig,
        InputConfig,
        LanguageConfig,
        OutputConfig,
        QualityConfig,
        URLFilterConfig,
    )

    defaults = dict(
        output=OutputConfig(dir=str(tmp_path / "run")),
        extract=ExtractConfig(extractor="none"),
        url_filter=URLFilterConfig(enabled=False),
        language=LanguageConfig(enabled=False),
        quality=QualityConfig(gopher_repetition=False, gopher_quality=False, c4_quality=False,
                              c4_badwords=False, fineweb_quality=False),
        dedup=DedupConfig(exact=False, minhash=False),
    )
    if "inputs" not in sections:  # else several inputs instead of tmp_path/in
        defaults["input"] = InputConfig(paths=[str(tmp_path / "in")], format=fmt)
    return CurationConfig(**{**defaults, **sections})
