"""The one JSONL reader: `.jsonl`, `.jsonl.gz`, `.json.gz` (any `.gz` is decompressed).

Each record comes with its line number, so whoever rejects a record can name `PATH:LINE`.
A bad line (invalid UTF-8, invalid JSON) raises `InputError("PATH:LINE: reason")`, unless the
caller passes `on_error`, which then decides what happens (count it, keep its raw text). Blank
lines are skipped: they hold no record, and a trailing newline is common.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from lm_core.errors import InputError

OnError = Callable[[int, str, str], None]
"""on_error(line_no, raw_line, reason) for a line that is not a JSON record."""


def iter_jsonl(path: str | Path, *, on_error: OnError | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, parsed record) for each non-blank line of a JSONL(.gz) file."""
    path = Path(path)
    with _open(path) as f:
        try:
            for line_no, raw in enumerate(f, 1):
                record, reason = _parse(raw)
                if record is _BLANK:
                    continue
                if reason is None:
                    yield line_no, record
                elif on_error is None:
                    raise InputError(f"{path}:{line_no}: {reason}")
                else:
                    on_error(line_no, raw.decode("utf-8", errors="replace").rstrip("\n"), reason)
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise InputError(f"{path}: not a readable gzip file ({e})") from None


def _open(path: Path) -> IO[bytes]:
    if not path.is_file():
        raise FileNotFoundError(f"input file {path} does not exist")
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


_BLANK = object()


def _parse(raw: bytes) -> tuple[Any, str | None]:
    """(record, None) or (None, why the line is not one); blank lines are (_BLANK, None)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 ({e.reason} at byte {e.start})"
    if not text.strip():
        return _BLANK, None
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} (column {e.colno})"


__all__ = ["OnError", "iter_jsonl"]
