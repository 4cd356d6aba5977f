"""A WARC/WET reader that accounts for every record.

datatrove's `WarcReader` silently drops non-HTML records, undecodable pages and read errors. This
reader yields the same documents (text = decoded HTML, or plain text for WET `conversion` records)
but counts every record it does not yield under `skipped_<reason>` and writes a small metadata-only
document for it to `skipped/`, so `yielded + skipped == records in the file`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.pipeline.writers.disk_base import DiskWriter

HTML_TYPES = ("text/html", "application/xhtml+xml")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


class SkipRecord(Exception):
    """A record that is not turned into a document; `reason` is a short stat key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _payload_type(record) -> str | None:
    mime = record.rec_headers.get_header("WARC-Identified-Payload-Type")
    if not mime and record.http_headers is not None:
        mime = record.http_headers.get_header("Content-Type")
    if not mime and record.rec_type == "conversion":
        mime = record.rec_headers.get_header("Content-Type")
    return mime.split(";")[0].strip().lower() if mime else None


def _declared_charset(record, body: bytes) -> str | None:
    ctype = record.http_headers.get_header("Content-Type") if record.http_headers else None
    if ctype and "charset=" in ctype.lower():
        return ctype.lower().split("charset=")[1].split(";")[0].strip(" \"'") or None
    m = _META_CHARSET.search(body[:4096])
    return m.group(1).decode("ascii").lower() if m else None


def decode_body(body: bytes, declared: str | None) -> tuple[str, str]:
    """Decode with the declared charset, else UTF-8, else a detected one; returns (text, how).

    `how` is `declared`, `undeclared` (no charset given, UTF-8 or detection worked) or
    `wrong_charset` (the declared one failed or is unknown, another worked). Raises `SkipRecord`.
    """
    if declared:
        try:
            return body.decode(declared), "declared"
        except (UnicodeDecodeError, LookupError):
            pass
    how = "wrong_charset" if declared else "undeclared"
    try:
        return body.decode("utf-8"), how
    except UnicodeDecodeError:
        pass
    import cchardet

    detected = cchardet.detect(body).get("encoding")
    if detected:
        try:
            return body.decode(detected), how
        except (UnicodeDecodeError, LookupError):
            pass
    raise SkipRecord("undecodable", f"declared={declared} detected={detected}")


def record_to_dict(record, max_bytes: int) -> dict:
    """The document fields of one WARC record, or `SkipRecord` saying why there is none."""
    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
    uri = uri.strip("<>")  # wget writes <uri>
    if record.rec_type not in ("response", "conversion"):
        raise SkipRecord(f"type_{record.rec_type}")
    if uri.startswith("dns:"):
        raise SkipRecord("dns")
    if record.http_headers is not None and record.rec_type == "response":
        status = record.http_headers.get_statuscode()
        if not str(status).startswith("2"):
            raise SkipRecord("http_status", str(status))
    declared_len = int(record.rec_headers.get_header("Content-Length") or 0)
    if declared_len > max_bytes:
        raise SkipRecord("too_large", f"{declared_len} bytes")
    mime = _payload_type(record)
    wet = record.rec_type == "conversion"
    if mime and mime not in HTML_TYPES and not (wet and mime == "text/plain"):
        raise SkipRecord("non_html", mime)
    body = record.content_stream().read(max_bytes + 1)
    if len(body) > max_bytes:
        raise SkipRecord("too_large", f">{max_bytes} bytes")
    if record.raw_stream.limit > 0:
        raise SkipRecord("truncated", f"{record.raw_stream.limit} of {declared_len} bytes missing")
    if not body.strip():
        raise SkipRecord("empty_body")
    if mime is None and not wet and b"<html" not in body[:4096].lower():
        raise SkipRecord("non_html", "unknown type, no <html> tag")
    text, how = decode_body(body, None if wet else _declared_charset(record, body))
    return {
        "text": text,
        "id": record.rec_headers.get_header("WARC-Record-ID"),
        "metadata": {
            "url": uri,
            "date": record.rec_headers.get_header("WARC-Date"),
            "content_type": "text/plain" if wet else "text/html",
            "charset": how,
        },
    }


class RobustWarcReader(BaseDiskReader):
    """Reads WARC and WET files; every record is a document or a counted, kept skip.

    Args:
        data_folder: folder (or file's folder) to read.
        skipped_writer: writer for the metadata of skipped records (`skipped/`).
        max_record_bytes: larger payloads are skipped as `too_large`.
        glob_pattern: which files of the folder to read.
    """

    name = "🕷 Robust WARC"
    _requires_dependencies: ClassVar[list] = ["warcio", ("cchardet", "faust-cchardet")]

    def __init__(
        self,
        data_folder,
        skipped_writer: DiskWriter | None = None,
        max_record_bytes: int = 8_000_000,
        glob_pattern: str | None = None,
        limit: int = -1,
        paths_file=None,
    ) -> None:
        super().__init__(data_folder, paths_file=paths_file, limit=limit, glob_pattern=glob_pattern)
        self.skipped_writer = skipped_writer
        self.max_record_bytes = max_record_bytes
        self._skip_out = None

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if self.skipped_writer is None:
            yield from super().run(data, rank, world_size)
            return
        with self.skipped_writer as writer:
            self._skip_out = (writer, rank)
            yield from super().run(data, rank, world_size)

    def _skip(self, reason: str, detail: str, filepath: str, index: int, record=None) -> None:
        self.stat_update("records")
        self.stat_update("skipped", f"skipped_{reason}")
        if self._skip_out is None:
            return
        headers = record.rec_headers if record is not None else None
        rid = headers.get_header("WARC-Record-ID") if headers else None
        doc = Document(
            text="",
            id=rid or f"{filepath}/{index}",
            metadata={
                "skip_reason": reason,
                "detail": detail[:500],
                "file": filepath,
                "record_index": index,
                "warc_type": record.rec_type if record is not None else None,
                "url": (headers.get_header("WARC-Target-URI") or "").strip("<>") if headers else None,
            },
        )
        writer, rank = self._skip_out
        writer.write(doc, rank)

    def _next(self, records, filepath: str, index: int):
        """The next record, None at a clean end; raises `SkipRecord` when the rest is unreadable."""
        try:
            return next(records)
        except StopIteration:
            return None
        except Exception as e:  # a broken gzip member or record header ends the readable part
            raise SkipRecord("read_error", f"{type(e).__name__}: {e}") from e

    def read_file(self, filepath: str) -> Iterator[Document]:
        from warcio.archiveiterator import ArchiveIterator

        size = self.data_folder.size(filepath)
        with self.data_folder.open(filepath, "rb", compression=None) as f:
            it = ArchiveIterator(f)
            records, index, end, pending = iter(it), 0, 0, None
            while True:
                try:
                    record = self._next(records, filepath, index)
                except SkipRecord as s:
                    if pending is not None:  # its Content-Length ran past or short of its body
                        self._skip("bad_content_length", f"{pending['metadata']['url']}: {s.detail}", filepath, index - 1)
                    self._skip(s.reason, s.detail, filepath, index)
                    return
                if pending is not None:
                    yield self._emit(pending)
                    pending = None
                if record is None:
                    break
                pending = self._process(record, filepath, index)
                end = it.get_record_offset() + it.get_record_length()
                index += 1
            if pending is not None:
                yield self._emit(pending)
            if size - end > 4:  # a final gzip member cut short ends iteration silently
                self._skip("truncated_tail", f"{size - end} bytes after the last full record", filepath, index)

    def _process(self, record, filepath: str, index: int) -> dict | None:
        try:
            with self.track_time():
                data = record_to_dict(record, self.max_record_bytes)
        except SkipRecord as s:
            self._skip(s.reason, s.detail, filepath, index, record)
            return None
        except Exception as e:
            self._skip("record_error", f"{type(e).__name__}: {e}", filepath, index, record)
            return None
        data["metadata"]["file"] = filepath
        return data

    def _emit(self, data: dict) -> Document:
        self.stat_update("records")
        if data["metadata"]["charset"] != "declared":
            self.stat_update(f"charset_{data['metadata']['charset']}")
        return Document(**data)
