from __future__ import annotations

import gzip
import json

from datatrove.pipeline.writers import JsonlWriter
from lm_data_testdata import broken_gz_warc, wrong_length_warc

from lm_data.reader import AccountedJsonlReader, RobustWarcReader, decode_body


def test_broken_records_are_counted_and_kept_with_reason(tmp_path):
    broken_gz_warc(tmp_path / "a.warc.gz")
    wrong_length_warc(tmp_path / "b.warc")
    reader = RobustWarcReader(str(tmp_path), skipped_writer=JsonlWriter(str(tmp_path / "skipped")),
                              max_record_bytes=200_000, glob_pattern="*.warc*")
    docs = list(reader.run())
    stats = {k: v.total for k, v in reader.stats.stats.items()}
    urls = [d.metadata["url"] for d in docs]
    assert urls == ["http://example.com/good", "http://example.com/undeclared",
                    "http://example.com/wrong", "http://example.org/0"]
    assert "Café Crème" in docs[1].text and "Café Crème" in docs[2].text  # latin-1 recovered
    for reason in (
        "empty_body",
        "too_large",
        "non_html",
        "truncated_tail",
        "bad_content_length",
        "read_error",
    ):
        assert stats[f"skipped_{reason}"] == 1, reason
    assert stats["charset_undeclared"] == 2 and stats["charset_wrong_charset"] == 1
    # 7 records in a + 2 readable in b + 1 unreadable tail of b: all accounted for
    assert stats["records"] == len(docs) + stats["skipped"] == 10
    with gzip.open(tmp_path / "skipped" / "00000.jsonl.gz", "rt") as f:
        kept = [json.loads(line) for line in f]
    assert {d["metadata"]["skip_reason"] for d in kept} == {
        "empty_body", "too_large", "non_html", "truncated_tail", "bad_content_length", "read_error"}


def test_decode_body_falls_back_from_wrong_charset():
    sample = "Un café naïve à côté de la rivière, très élégant. " * 5
    text, how = decode_body(sample.encode("latin-1"), "utf-8")
    assert text == sample and how == "wrong_charset"
    assert decode_body("日本".encode(), None) == ("日本", "undeclared")
    assert decode_body(b"abc", "no-such-codec") == ("abc", "wrong_charset")


def test_revisits_requests_and_non_html_are_skipped(shared):
    """pywb's iana crawl: 343 records, only 20 HTML responses may become documents."""
    reader = RobustWarcReader(str(shared / "web" / "warc"), glob_pattern="pywb-iana.warc.gz")
    docs = list(reader.run())
    stats = {k: v.total for k, v in reader.stats.stats.items()}
    assert stats["records"] == 343
    assert stats["skipped_type_revisit"] == 123 and stats["skipped_type_request"] == 171
    assert stats["skipped_non_html"] >= 28 - 2  # CSS, JS, images
    assert 0 < len(docs) <= 20
    assert all(d.metadata["content_type"] == "text/html" for d in docs)


def test_jsonl_cut_short_keeps_its_whole_lines_and_counts_the_rest_as_a_read_error(tmp_path):
    lines = "".join(
        json.dumps({"id": f"d{i}", "text": f"document number {i} " * 20}) + "\n" for i in range(200)
    )
    whole = gzip.compress(lines.encode())
    (tmp_path / "cut.jsonl.gz").write_bytes(
        whole[: len(whole) // 2]
    )  # a download that stopped halfway
    reader = AccountedJsonlReader(
        str(tmp_path),
        skipped_writer=JsonlWriter(str(tmp_path / "skipped")),
        glob_pattern="*.jsonl.gz",
    )
    docs = list(reader.run())
    stats = {k: v.total for k, v in reader.stats.stats.items()}
    assert 0 < len(docs) < 200 and [d.id for d in docs] == [f"d{i}" for i in range(len(docs))]
    assert stats["records"] == len(docs) + 1 and stats["skipped_read_error"] == 1
    with gzip.open(tmp_path / "skipped" / "00000.jsonl.gz", "rt") as f:
        (skip,) = [json.loads(line) for line in f]
    assert skip["metadata"]["line"] == len(docs) + 1 and "EOFError" in skip["metadata"]["detail"]
