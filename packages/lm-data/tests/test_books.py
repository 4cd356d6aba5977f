"""Books and plain text in lm-data: the text reader, the Gutenberg cut, and one run over
inputs of several formats that accounts for every record."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from lm_data_testdata import bare_config, broken_gz_warc
from warcio.archiveiterator import ArchiveIterator

from lm_data import (
    CurationConfig,
    ExtractConfig,
    InputConfig,
    QualityConfig,
    URLFilterConfig,
    run,
    write_report,
)
from lm_data.books import strip_gutenberg
from lm_data.config import ConfigError
from lm_data.report import iter_docs

BOOK = ("The Project Gutenberg EBook of A Small Book\r\n\r\nThis eBook is for the use of anyone"
        "\r\n\r\n*** START OF THIS PROJECT GUTENBERG EBOOK A SMALL BOOK ***\r\n\r\n"
        "Chapter 1\r\n\r\nIt was a bright cold day in April.\r\n\r\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK A SMALL BOOK ***\r\n\r\nLicence text.\r\n")
BODY = "Chapter 1\r\n\r\nIt was a bright cold day in April."
PLAIN = "A plain text without any licence: only the story itself, told in one line.\n"


def _first_gutenberg_book(shared: Path) -> dict:
    path = shared / "pretrain" / "gutenberg-20-books.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.loads(f.readline())


def test_strip_gutenberg_on_a_real_book(shared):
    book = _first_gutenberg_book(shared)
    text, header, footer = strip_gutenberg(book["text"])
    assert header and footer
    assert "*** START OF" not in text and "*** END OF" not in text
    assert "Project Gutenberg" not in text[:200] and len(text) > 0.9 * len(book["text"])
    assert strip_gutenberg(PLAIN) == (PLAIN.strip(), False, False)


def _books(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "small-book.txt").write_bytes(BOOK.encode())
    with gzip.open(folder / "plain.txt.gz", "wb") as f:
        f.write(PLAIN.encode())
    (folder / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (folder / "blank.txt").write_text(" \n\n ")


def _stats(root: Path, step: str) -> dict:
    stats = json.loads((root / "logs" / "0_filter" / "stats.json").read_text())
    values = next(s["stats"] for s in stats if step in s["name"])
    return {k: v["total"] if isinstance(v, dict) else v for k, v in values.items()}


def test_text_reader_and_gutenberg_step_count_every_file(tmp_path):
    _books(tmp_path / "in")
    cfg = bare_config(tmp_path, "text")
    cfg.inputs[0].gutenberg = True
    root = run(cfg)
    r = json.loads((write_report(root).parent / "report.json").read_text())
    assert (r["records_read"], r["documents_read"], r["output"]) == (4, 2, 2)
    assert r["skipped"] == {"undecodable": 1, "empty_text": 1}
    assert r["accounted"] == r["records_read"]
    docs = {d["id"]: d for d in iter_docs(root / "output")}
    assert docs["small-book.txt"]["text"] == BODY  # CRLF kept, licence cut
    assert docs["plain.txt.gz"]["text"] == PLAIN.strip()  # no licence: kept whole, counted
    assert {d["metadata"]["input"] for d in docs.values()} == {"inputs[0]"}
    stats = _stats(root, "Gutenberg")
    assert (stats["stripped"], stats["no_header"], stats["no_footer"]) == (1, 1, 1)
    skipped = {Path(d["metadata"]["file"]).name: d["metadata"]["skip_reason"]
               for d in iter_docs(root / "skipped")}
    assert skipped == {"latin1.txt": "undecodable", "blank.txt": "empty_text"}


def test_a_book_with_only_a_licence_is_excluded_with_reason(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "licence-only.txt").write_text(
        "*** START OF THE BOOK ***\n\n*** END OF THE BOOK ***\n")
    cfg = bare_config(tmp_path, "text")
    cfg.inputs[0].gutenberg = True
    root = run(cfg)
    r = json.loads((write_report(root).parent / "report.json").read_text())
    assert r["output"] == 0 and r["excluded"] == {"gutenberg": 1} and r["accounted"] == 1
    (doc,) = iter_docs(root / "excluded" / "gutenberg")
    assert doc["metadata"]["filter_reason"] == "empty_after_strip"


def test_one_run_reads_warc_jsonl_and_text_and_accounts_for_every_record(tmp_path):
    """Each input is read by its own reader in one run; extraction touches only the WARC's
    HTML, the Gutenberg cut and the length cap only the books; documents without a URL pass
    the URL filter."""
    warc, web, books = tmp_path / "warc", tmp_path / "web", tmp_path / "books"
    warc.mkdir()
    broken_gz_warc(warc / "a.warc.gz")
    with open(warc / "a.warc.gz", "rb") as f:
        warc_records = sum(1 for _ in ArchiveIterator(f))  # the readable ones
    web.mkdir()
    lines = [json.dumps({"id": "w0", "text": "<p>Not HTML to extract: kept as it is.</p>"}),
             '{"id": "broken"', json.dumps({"id": "w1", "text": "Another web text."})]
    (web / "docs.jsonl").write_text("\n".join(lines) + "\n")
    _books(books)
    cfg = bare_config(
        tmp_path, inputs=[
            InputConfig(paths=[str(warc)], format="warc", name="crawl", max_record_bytes=200_000),
            InputConfig(paths=[str(web)], format="jsonl", name="web"),
            InputConfig(paths=[str(books)], format="text", name="books", gutenberg=True,
                        max_chars=20)],
        extract=ExtractConfig(extractor="trafilatura", timeout=10.0),
        url_filter=URLFilterConfig(enabled=True))
    root = run(cfg)
    r = json.loads((write_report(root).parent / "report.json").read_text())
    jsonl_records, text_files = 3, 4
    # The WARC's truncated tail is one more counted skip than warcio can iterate.
    assert r["records_read"] == warc_records + 1 + jsonl_records + text_files
    assert r["accounted"] == r["records_read"]
    assert r["skipped"]["malformed_json"] == 1 and r["skipped"]["undecodable"] == 1
    docs = list(iter_docs(root / "output"))
    by_input = {name: [d for d in docs if d["metadata"]["input"] == name]
                for name in ("crawl", "web", "books")}
    assert len(by_input["crawl"]) >= 1 and all("<p>" not in d["text"] for d in by_input["crawl"])
    assert sorted(d["text"] for d in by_input["web"]) == [
        "<p>Not HTML to extract: kept as it is.</p>", "Another web text."]
    assert sorted(d["text"] for d in by_input["books"]) == sorted([BODY[:20], PLAIN[:20]])
    skipped_inputs = {d["metadata"]["input"] for d in iter_docs(root / "skipped")}
    assert skipped_inputs == {"crawl", "web", "books"}
    # Documents without a URL pass the URL filter, counted (datatrove's would fail the task).
    assert _stats(root, "Url-filter")["no_url"] == len(by_input["web"]) + len(by_input["books"])


def test_an_input_with_filter_false_skips_the_filters(tmp_path):
    """Books are read after the filters (the web filters drop most novels); the same text
    from a filtered input is dropped, and both share one output."""
    text = "He swore: fuck the rain. " * 3
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "docs.jsonl").write_text(json.dumps({"id": "w", "text": text}) + "\n")
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "novel.txt").write_text(text)
    cfg = bare_config(
        tmp_path, quality=QualityConfig(gopher_repetition=False, gopher_quality=False,
                                        c4_quality=False, fineweb_quality=False),
        inputs=[InputConfig(paths=[str(tmp_path / "web")], format="jsonl", name="web"),
                InputConfig(paths=[str(tmp_path / "books")], format="text", name="books",
                            filter=False, gutenberg=True)])
    root = run(cfg)
    r = json.loads((write_report(root).parent / "report.json").read_text())
    assert r["excluded"] == {"c4_badwords": 1} and r["output"] == 1 and r["accounted"] == 2
    (kept,) = iter_docs(root / "output")
    assert kept["metadata"]["input"] == "books" and kept["text"] == text.strip()
    # Only unfiltered inputs: no filter runs at all.
    cfg.inputs, cfg.output.dir = cfg.inputs[1:], str(tmp_path / "run-books")
    r = json.loads((write_report(run(cfg)).parent / "report.json").read_text())
    assert (r["output"], r["accounted"]) == (1, 1)
    assert [row["filter"] for row in r["filters"]] == ["gutenberg"]


def test_inputs_table_list_and_single_input_table(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    cfg = CurationConfig.from_dict({"inputs": [{"paths": [a], "format": "jsonl"},
                                               {"paths": [b], "format": "text"}]})
    names = [(i.name, i.format) for i in cfg.inputs]
    assert names == [("inputs[0]", "jsonl"), ("inputs[1]", "text")]
    single = CurationConfig.from_dict({"input": {"paths": [str(tmp_path / "a")]}})
    assert single.input is None and [i.format for i in single.inputs] == ["warc"]
    with pytest.raises(ConfigError, match=r"inputs\.1\.fromat: unknown key"):
        CurationConfig.from_dict({"inputs": [{"paths": [str(tmp_path / "a")]},
                                             {"paths": [str(tmp_path / "b")], "fromat": "text"}]})
    with pytest.raises(ConfigError, match=r"give at least one input \(\[\[inputs\]\] or"):
        CurationConfig.from_dict({"output": {"dir": str(tmp_path)}})
    with pytest.raises(ConfigError, match=r"repeated: \['x'\]"):
        CurationConfig(inputs=[InputConfig(paths=[str(tmp_path / "a")], name="x"),
                               InputConfig(paths=[str(tmp_path / "b")], name="x")])
