"""Readers that account for every record: WARC/WET, JSONL, Parquet and plain text.

datatrove's readers silently drop what they cannot use: `WarcReader` non-HTML records, undecodable
pages and read errors; `JsonlReader` malformed lines; both JSONL and Parquet readers records whose
text is empty or under another key (a single log warning for all of them). These readers yield the
same documents but count every raw record under `records`, and every one they do not yield under
`skipped_<reason>`, writing a document for it to `skipped/` (file, record index, reason, detail), so
`yielded + skipped == records in the files`.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.readers import JsonlReader, ParquetReader
from datatrove.pipeline.readers.base import BaseDiskReader
from datatrove.pipeline.writers.disk_base import DiskWriter

logger = logging.getLogger(__name__)

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


class SkipAccounting:
    """Mixin for a datatrove disk reader: writes each record it does not yield to `skipped_writer`.

    The reader sets `skipped_writer` (None: skips are only counted) and calls `_skip` for every
    record it drops and `_count` for every one it yields.
    """

    skipped_writer: DiskWriter | None = None
    _skip_out: tuple[DiskWriter, int] | None = None

    def run(
        self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1
    ) -> DocumentsPipeline:
        if self.skipped_writer is None:
            yield from super().run(data, rank, world_size)  # type: ignore[misc]
            return
        with self.skipped_writer as writer:
            self._skip_out = (writer, rank)
            yield from super().run(data, rank, world_size)  # type: ignore[misc]

    def _count(self) -> None:
        self.stat_update("records")  # type: ignore[attr-defined]

    def _skip(
        self,
        reason: str,
        detail: str,
        filepath: str,
        index: int,
        *,
        doc_id: str | None = None,
        text: str = "",
        **metadata: Any,
    ) -> None:
        """Count record `index` of `filepath` as skipped for `reason` and keep it in `skipped/`."""
        self._count()
        self.stat_update("skipped", f"skipped_{reason}")  # type: ignore[attr-defined]
        logger.debug("%s record %d skipped: %s %s", filepath, index, reason, detail)
        if self._skip_out is None:
            return
        path = self.data_folder.resolve_paths(filepath)  # type: ignore[attr-defined]
        doc = Document(
            text=text,
            id=doc_id or f"{filepath}/{index}",
            metadata={**(self.default_metadata or {}),  # type: ignore[attr-defined]
                      "skip_reason": reason, "detail": detail[:500], "file": path,
                      "record_index": index, **metadata},
        )
        writer, rank = self._skip_out
        writer.write(doc, rank)


class RobustWarcReader(SkipAccounting, BaseDiskReader):
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
        default_metadata: dict | None = None,
    ) -> None:
        super().__init__(data_folder, paths_file=paths_file, limit=limit, glob_pattern=glob_pattern,
                         default_metadata=default_metadata)
        self.skipped_writer = skipped_writer
        self.max_record_bytes = max_record_bytes
        self._skip_out = None

    def _skip_record(
        self, reason: str, detail: str, filepath: str, index: int, record=None
    ) -> None:
        headers = record.rec_headers if record is not None else None
        self._skip(
            reason, detail, filepath, index,
            doc_id=headers.get_header("WARC-Record-ID") if headers else None,
            warc_type=record.rec_type if record is not None else None,
            url=(headers.get_header("WARC-Target-URI") or "").strip("<>") if headers else None,
        )

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
                        self._skip_record(
                            "bad_content_length",
                            f"{pending['metadata']['url']}: {s.detail}",
                            filepath,
                            index - 1,
                        )
                    self._skip_record(s.reason, s.detail, filepath, index)
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
                self._skip_record(
                    "truncated_tail",
                    f"{size - end} bytes after the last full record",
                    filepath,
                    index,
                )

    def _process(self, record, filepath: str, index: int) -> dict | None:
        try:
            with self.track_time():
                data = record_to_dict(record, self.max_record_bytes)
        except SkipRecord as s:
            self._skip_record(s.reason, s.detail, filepath, index, record)
            return None
        except Exception as e:
            self._skip_record("record_error", f"{type(e).__name__}: {e}", filepath, index, record)
            return None
        data["metadata"]["file"] = filepath
        return data

    def _emit(self, data: dict) -> Document:
        self._count()
        if data["metadata"]["charset"] != "declared":
            self.stat_update(f"charset_{data['metadata']['charset']}")
        data["metadata"] = {**(self.default_metadata or {}), **data["metadata"]}
        return Document(**data)


class _RecordChecks(SkipAccounting):
    """The checks of one parsed JSONL/Parquet record, shared by both readers."""

    text_key: str

    def __init__(
        self, data_folder, skipped_writer: DiskWriter | None = None, **kwargs: Any
    ) -> None:
        super().__init__(data_folder, **kwargs)  # datatrove's JsonlReader or ParquetReader
        self.skipped_writer = skipped_writer

    def _document(self, data: Any, filepath: str, index: int, raw: Callable[[], str],
                  **where: Any) -> Document | None:
        """The document of record `index`, or None after `_skip` said why there is none; `raw()`
        (the record as text, kept with a skip) is only built for records that are skipped."""
        problem = self._problem(data)
        if problem is None:
            with self.track_time():  # type: ignore[attr-defined]
                doc = self.get_document_from_dict(data, filepath, index)  # type: ignore[attr-defined]
            if doc is not None:
                self._count()
                return doc
            problem = ("empty_text", "no text after the adapter")
        self._skip(*problem, filepath, index, text=raw(), **where)
        return None

    def _problem(self, data: Any) -> tuple[str, str] | None:
        """(reason, detail) why a parsed record holds no usable text, or None."""
        if not isinstance(data, dict):
            return "not_an_object", f"a JSON {type(data).__name__}"
        if self.text_key not in data:
            keys = ", ".join(map(str, list(data)[:20]))
            return "missing_text_key", f"no {self.text_key!r} field; fields: {keys}"
        text = data[self.text_key]
        if text is not None and not isinstance(text, str):
            return "text_not_string", f"{self.text_key!r} is a {type(text).__name__}"
        if text is None or not text.strip():
            return "empty_text", f"{self.text_key!r} is {text!r}"
        return None


class AccountedJsonlReader(_RecordChecks, JsonlReader):
    """datatrove's `JsonlReader`, but a malformed line, a record without text or with empty text is
    a counted skip kept in `skipped/` (its raw line as text, its 1-based `line`), not a log warning.

    Blank lines hold no record and are not counted. A read error (corrupt gzip, invalid UTF-8) ends
    the file and is one `read_error` skip naming the line it stopped at.
    """

    name = "📒 Accounted JSONL"

    def read_file(self, filepath: str) -> Iterator[Document]:
        import orjson

        index = -1
        try:
            with self.data_folder.open(filepath, "r", compression=self.compression) as f:
                for index, line in enumerate(f):
                    if not line.strip():
                        continue
                    try:
                        data = orjson.loads(line)
                    except orjson.JSONDecodeError as e:
                        self._skip(
                            "malformed_json", str(e), filepath, index, text=line, line=index + 1
                        )
                        continue
                    doc = self._document(
                        data, filepath, index, lambda line=line: line, line=index + 1
                    )
                    if doc is not None:
                        yield doc
        except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
            self._skip("read_error", f"{type(e).__name__}: {e}; the rest of the file is unreadable",
                       filepath, index + 1, line=index + 2)


class AccountedParquetReader(_RecordChecks, ParquetReader):
    """datatrove's `ParquetReader`, but a row without text (missing column, null or empty) is a
    counted skip kept in `skipped/` (the row as JSON), not dropped with a log warning. An
    unreadable file or row group ends the file and is one `read_error` skip."""

    name = "📒 Accounted Parquet"

    def read_file(self, filepath: str) -> Iterator[Document]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        index = 0
        try:
            with self.data_folder.open(filepath, "rb") as f, pq.ParquetFile(f) as pqf:
                names = pqf.schema_arrow.names
                columns = (
                    None
                    if self.read_metadata
                    else [c for c in (self.text_key, self.id_key) if c in names]
                )
                for batch in pqf.iter_batches(batch_size=self.batch_size, columns=columns):
                    for row in batch.to_pylist():
                        raw = lambda row=row: json.dumps(row, ensure_ascii=False, default=str)  # noqa: E731
                        doc = self._document(row, filepath, index, raw, row=index)
                        index += 1
                        if doc is not None:
                            yield doc
        except (OSError, pa.ArrowException) as e:
            self._skip("read_error", f"{type(e).__name__}: {e}; the rest of the file is unreadable",
                       filepath, index, row=index)


class TextReader(SkipAccounting, BaseDiskReader):
    """Plain-text files (`.txt`, or gzip-compressed `.txt.gz`), one document per file: books,
    transcripts, a corpus kept as text. The text is the file's UTF-8 content as it is (line
    ends kept); its id is the file's path relative to the data folder.

    A file that is not UTF-8, cannot be read or holds only whitespace is a counted skip
    (`undecodable`, `read_error`, `empty_text`) kept in `skipped/`, so
    `documents + skipped == files read`.
    """

    name = "📄 Text files"

    def __init__(self, data_folder, skipped_writer: DiskWriter | None = None,
                 **kwargs: Any) -> None:
        super().__init__(data_folder, **kwargs)
        self.skipped_writer = skipped_writer
        self._skip_out = None

    def read_file(self, filepath: str) -> Iterator[Document]:
        try:
            with self.data_folder.open(filepath, "rb", compression="infer") as f:
                raw = f.read()
        except (OSError, EOFError, zlib.error) as e:
            self._skip("read_error", f"{type(e).__name__}: {e}", filepath, 0)
            return
        try:
            # utf-8-sig: a byte-order mark is not text.
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            self._skip("undecodable", f"not UTF-8: {e}", filepath, 0)
            return
        if not text.strip():
            self._skip("empty_text", f"{len(raw)} bytes of whitespace", filepath, 0)
            return
        self._count()
        metadata = {**(self.default_metadata or {})}
        if self.add_file_path:
            metadata["file_path"] = self.data_folder.resolve_paths(filepath)
        yield Document(text=text, id=filepath, metadata=metadata)
