"""lm_core.jsonl: records with line numbers, bad lines named or handed to on_error."""

from __future__ import annotations

import gzip

import pytest

from lm_core import InputError
from lm_core.jsonl import iter_jsonl


def test_reads_plain_and_gzip_with_line_numbers(tmp_path):
    text = '{"a": 1}\n\n{"a": 2}\n'
    (tmp_path / "x.jsonl").write_text(text)
    with gzip.open(tmp_path / "x.jsonl.gz", "wt") as f:
        f.write(text)
    for name in ("x.jsonl", "x.jsonl.gz"):
        assert list(iter_jsonl(tmp_path / name)) == [(1, {"a": 1}), (3, {"a": 2})]


@pytest.mark.parametrize(("raw", "reason"), [
    (b'{"a": 1}\n{"a": \n', r"x\.jsonl:2: invalid JSON: Expecting value \(column 1\)"),
    (b'{"a": 1}\n{"a": "\xff"}\n', r"x\.jsonl:2: invalid UTF-8 \(invalid start byte at byte 7\)"),
])
def test_a_bad_line_is_named_by_file_and_line(tmp_path, raw, reason):
    (tmp_path / "x.jsonl").write_bytes(raw)
    with pytest.raises(InputError, match=reason):
        list(iter_jsonl(tmp_path / "x.jsonl"))


def test_on_error_decides(tmp_path):
    (tmp_path / "x.jsonl").write_bytes(b'{"a": 1}\nnot json\n{"a": 3}\n')
    bad = []
    records = list(iter_jsonl(tmp_path / "x.jsonl", on_error=lambda *a: bad.append(a)))
    assert records == [(1, {"a": 1}), (3, {"a": 3})]
    assert bad == [(2, "not json", "invalid JSON: Expecting value (column 1)")]


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        list(iter_jsonl(tmp_path / "nope.jsonl"))
    (tmp_path / "x.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(InputError, match=r"x\.jsonl\.gz: not a readable gzip file"):
        list(iter_jsonl(tmp_path / "x.jsonl.gz"))
