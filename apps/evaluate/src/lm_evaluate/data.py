"""Readers for the local evaluation files: JSONL (optionally gzipped), text, MMLU's tar of CSVs."""

from __future__ import annotations

import csv
import gzip
import io
import tarfile
from pathlib import Path
from typing import Any

from lm_core.jsonl import iter_jsonl
from lm_evaluate.config import InputError


def read_text(path: Path) -> str:
    """A UTF-8 file's text, gunzipped if it ends in .gz."""
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return data.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read as UTF-8 text: {e}") from e


def read_jsonl(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The first `limit` records (all for None) of a JSONL(.gz) file; any bad line or a record
    that is not an object is an InputError naming the file and line (a task never scores a
    silently smaller set)."""

    def bad_line(n: int, _raw: str, why: str) -> None:
        raise InputError(f"{path}:{n}: {why}")

    records = []
    for n, record in iter_jsonl(path, on_error=bad_line):
        if not isinstance(record, dict):
            raise InputError(f"{path}:{n}: expected a JSON object")
        records.append(record)
        if limit is not None and len(records) >= limit:
            break
    return records


def field(record: dict[str, Any], name: str, where: str) -> str:
    """`record[name]` as a string, or InputError naming the record and field."""
    value = record.get(name)
    if not isinstance(value, str):
        raise InputError(f"{where}: field {name!r} is missing or not a string")
    return value


def read_mmlu(path: Path, split: str) -> dict[str, list[list[str]]]:
    """MMLU rows (question, A, B, C, D, answer) of one split, by subject, from the tar."""
    subjects: dict[str, list[list[str]]] = {}
    try:
        # Members are read in archive order: seeking back in a gzip stream decompresses it again.
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if not member.isfile() or len(parts) < 2 or parts[-2] != split:
                    continue
                subject = parts[-1].removesuffix(f"_{split}.csv")
                text = tar.extractfile(member).read().decode("utf-8")
                rows = list(csv.reader(io.StringIO(text, newline="")))
                for i, row in enumerate(rows, start=1):
                    if len(row) != 6 or row[5] not in "ABCD" or not row[5]:
                        raise InputError(
                            f"{path}:{member.name}:{i}: expected question,A,B,C,D,answer"
                        )
                subjects[subject] = rows
    except (OSError, tarfile.TarError) as e:
        raise InputError(f"{path}: cannot read the MMLU tar: {e}") from e
    subjects = dict(sorted(subjects.items()))
    if not subjects:
        raise InputError(
            f"{path}: no {split} CSVs found (expected mmlu/{split}/<subject>_{split}.csv)"
        )
    return subjects
