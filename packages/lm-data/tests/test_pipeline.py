from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from lm_data_testdata import bare_config, broken_gz_warc, wrong_length_warc
from warcio.archiveiterator import ArchiveIterator

from lm_data import (
    CurationConfig,
    DecontamConfig,
    DedupConfig,
    InputConfig,
    OutputConfig,
    build_stages,
    run,
    write_report,
)
from lm_data.report import iter_docs

REAL_WARCS = ["cc-main-2020-34-excerpt.warc.gz", "dolma-wget-sample-0000.warc.gz",
              "dolma-wget-sample-0001.warc.gz", "pywb-iana.warc.gz"]


def count_records(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in ArchiveIterator(f))


@pytest.mark.slow
def test_end_to_end_on_real_warcs_accounts_for_every_record(shared, tmp_path):
    paths = [shared / "web" / "warc" / name for name in REAL_WARCS]
    cfg = CurationConfig(
        input=InputConfig(paths=[str(p) for p in paths]),
        output=OutputConfig(dir=str(tmp_path / "run")),
        decontam=DecontamConfig(eval_files=[str(shared / "eval" / "gsm8k-test.jsonl")]),
    )
    root = run(cfg)
    write_report(root)
    r = json.loads((root / "report" / "report.json").read_text())
    assert r["records_read"] == sum(map(count_records, paths)) == 475
    assert (
        r["output"] + sum(r["excluded"].values()) + sum(r["skipped"].values()) == r["records_read"]
    )
    assert r["accounted"] == r["records_read"]
    assert r["skipped"]["type_revisit"] == 123
    assert r["excluded"]["language"] >= 10  # the Chinese/Russian spam pages of the CC excerpt
    assert r["output"] > 5 and set(r["languages"]) == {"en"}
    out = list(iter_docs(root / "output"))
    meta = out[0]["metadata"]
    assert {"url", "date", "language", "language_score"} <= set(meta)
    assert (root / "logs" / "0_filter" / "stats.json").is_file()


def _robust_cfg(tmp_path: Path, **kw) -> CurationConfig:
    broken_gz_warc(tmp_path / "in" / "a.warc.gz") if (tmp_path / "in").mkdir() is None else None
    wrong_length_warc(tmp_path / "in" / "b.warc")
    return CurationConfig(
        input=InputConfig(paths=[str(tmp_path / "in")], max_record_bytes=200_000),
        output=OutputConfig(dir=str(tmp_path / "run")),
        dedup=DedupConfig(exact=True, minhash=False),
        **kw,
    )


def test_broken_warcs_run_completes_report_counts_and_rerun_skips(tmp_path):
    cfg = _robust_cfg(tmp_path)
    root = run(cfg)
    md = write_report(root).read_text()
    r = json.loads((root / "report" / "report.json").read_text())
    for reason in (
        "empty_body",
        "too_large",
        "non_html",
        "truncated_tail",
        "bad_content_length",
        "read_error",
    ):
        assert r["skipped"][reason] == 1
        assert f"| {reason} | 1 |" in md
    assert r["charset_recovered"] == {"charset_undeclared": 2, "charset_wrong_charset": 1}
    assert r["accounted"] == r["records_read"] == 10
    assert r["output"] + sum(r["excluded"].values()) == r["documents_read"] == 4
    assert (root / "report" / "funnel.png").stat().st_size > 1000
    assert "| gopher_quality | " in md and "## Languages of kept documents" in md

    # rerun: every task has a completion marker, so nothing is recomputed
    outputs = sorted((root / "output").glob("*"))
    stamps = [p.stat().st_mtime_ns for p in outputs]
    (root / "skipped" / "00000.jsonl.gz").unlink()
    run(cfg)
    assert [p.stat().st_mtime_ns for p in outputs] == stamps
    assert not (root / "skipped" / "00000.jsonl.gz").exists()
    assert len(list((root / "logs" / "0_filter" / "completions").iterdir())) == 2


def _c4_docs(shared: Path, k: int) -> list[dict]:
    with gzip.open(shared / "web" / "text" / "c4-en-sample-1000.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f.read().split("\n") if line]
    return [r for r in rows if len(r["text"].split(". ")) > 12][:k]


def _dedup_only_cfg(tmp_path: Path, docs: list[dict], **dedup) -> CurationConfig:
    """One JSONL input file of `docs`, every filter off: only dedup (and PII) runs."""
    (tmp_path / "in").mkdir()
    with gzip.open(tmp_path / "in" / "docs.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(d) + "\n" for d in docs))
    return bare_config(tmp_path, dedup=DedupConfig(**dedup))


def test_minhash_and_exact_dedup_remove_planted_duplicates(shared, tmp_path):
    base = _c4_docs(shared, 4)
    sentences = base[1]["text"].split(". ")
    sentences[3] = "This one sentence was rewritten entirely by the test to plant a near duplicate"
    docs = [
        {"id": "a", "text": base[0]["text"], "metadata": {"url": "https://a.example.com/"}},
        {"id": "a-copy", "text": base[0]["text"], "metadata": {"url": "https://b.example.com/"}},
        {"id": "b", "text": base[1]["text"], "metadata": {"url": "https://c.example.com/"}},
        {"id": "b-near", "text": ". ".join(sentences), "metadata": {"url": "https://d.example.com/"}},
        {"id": "c", "text": base[2]["text"], "metadata": {"url": "https://e.example.com/"}},
        {"id": "d", "text": base[3]["text"], "metadata": {"url": "https://f.example.com/"}},
    ]
    root = run(_dedup_only_cfg(tmp_path, docs))
    kept = {d["id"] for d in iter_docs(root / "output")}
    exact = {d["id"] for d in iter_docs(root / "excluded" / "exact_dedup")}
    near = {d["id"] for d in iter_docs(root / "excluded" / "minhash_dedup")}
    assert len(exact) == 1 and exact <= {"a", "a-copy"}
    assert len(near) == 1 and near <= {"b", "b-near"}
    assert {"c", "d"} <= kept and len(kept) == 4
    r = json.loads((write_report(root).parent / "report.json").read_text())
    assert r["minhash_cluster_sizes"].get("2") == 1


BOILERPLATE = ("We use cookies to give you the best experience on our website. "
               "By continuing to browse the site you agree to our use of cookies. "
               "Read our privacy policy to find out more about how we handle your data.")


def test_sentence_dedup_cuts_planted_boilerplate_and_excludes_emptied_documents(shared, tmp_path):
    base = _c4_docs(shared, 3)
    docs = [
        {"id": f"page{i}", "text": f"{BOILERPLATE}\n\n{b['text']}", "metadata": {}}
        for i, b in enumerate(base)
    ]
    docs += [
        {
            "id": "short",
            "text": f"{BOILERPLATE}\n\nThanks for reading. See you soon. Bye now.",
            "metadata": {},
        },
        {"id": "only-boilerplate", "text": BOILERPLATE, "metadata": {}},
    ]
    # MinHash off: it would take "only-boilerplate" as a near duplicate of "short" first.
    root = run(_dedup_only_cfg(tmp_path, docs, minhash=False, sentence=True))
    kept = {d["id"]: d for d in iter_docs(root / "output")}
    excluded = {d["id"]: d for d in iter_docs(root / "excluded" / "sentence_dedup")}
    assert set(kept) == {"page0", "page1", "page2"}
    assert [i for i, d in kept.items() if "We use cookies" in d["text"]] == ["page0"]
    for i in ("page1", "page2"):
        assert kept[i]["text"].strip() == base[int(i[-1])]["text"].strip()
        assert kept[i]["metadata"]["sentence_dedup_removed_chars"] > len(BOILERPLATE)
    assert excluded["short"]["metadata"]["filter_reason"] == "too_few_words"
    assert excluded["only-boilerplate"]["metadata"]["filter_reason"] == "empty"
    assert excluded["short"]["text"] == docs[3]["text"]  # the full original is kept, nothing lost
    md = write_report(root).read_text()
    r = json.loads((root / "report" / "report.json").read_text())
    row = next(row for row in r["filters"] if row["filter"] == "sentence_dedup")
    assert (row["in"], row["out"], row["removed"]) == (5, 3, 2)
    assert r["sentence_dedup"]["removed_spans"] == 4 and r["sentence_dedup"]["shortened"] == 2
    assert r["sentence_dedup"]["removed_sentences"] >= 12
    assert r["accounted"] == len(docs) and "## Sentence dedup" in md


def test_sentence_dedup_stages_chain_after_minhash(tmp_path):
    stages = build_stages(_dedup_only_cfg(tmp_path, [{"id": "x", "text": "x"}], sentence=True))
    assert [s.name for s in stages] == [
        "filter",
        "exact_find",
        "exact_filter",
        "minhash_buckets",
        "minhash_cluster",
        "minhash_filter",
        "sentence_find",
        "final",
    ]
    names = [[type(step).__name__ for step in s.pipeline] for s in stages]
    assert names[5][-2:] == ["JsonlWriter", "SentenceDedupSignature"]
    assert names[-1][:2] == ["RankFileReader", "SentenceDedup"]
    assert "SentenceDedup" not in str(names[:5])


GOOD = [
    "A first plain document about gardening.",
    "A second one about the sea.",
    "A third about bread.",
]


def _skipped(root: Path) -> dict[str, dict]:
    return {d["metadata"]["skip_reason"]: d for d in iter_docs(root / "skipped")}


def test_bad_jsonl_lines_are_counted_and_kept_in_skipped(tmp_path):
    (tmp_path / "in").mkdir()
    lines = [
        json.dumps({"id": "g0", "text": GOOD[0]}),
        '{"id": "broken", "text": "no closing brace"',
        json.dumps({"id": "g1", "text": GOOD[1]}),
        json.dumps({"id": "empty", "text": ""}),
        json.dumps({"id": "other-key", "content": "text under the wrong key"}),
        json.dumps({"id": "g2", "text": GOOD[2]}),
    ]
    path = tmp_path / "in" / "docs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    root = run(bare_config(tmp_path, "jsonl"))
    md = write_report(root).read_text()
    r = json.loads((root / "report" / "report.json").read_text())
    assert (r["records_read"], r["documents_read"], r["output"]) == (6, 3, 3)
    assert r["skipped"] == {"malformed_json": 1, "empty_text": 1, "missing_text_key": 1}
    assert r["accounted"] == r["records_read"] == 6 and "Accounted for: 6 of 6" in md
    skipped = _skipped(root)
    assert {k: (d["metadata"]["file"], d["metadata"]["line"]) for k, d in skipped.items()} == {
        "malformed_json": (str(path), 2),
        "empty_text": (str(path), 4),
        "missing_text_key": (str(path), 5),
    }
    assert skipped["malformed_json"]["text"].strip() == lines[1]  # the raw record itself is kept
    assert "'text'" in skipped["missing_text_key"]["metadata"]["detail"]


def test_parquet_rows_without_text_are_counted_and_kept_in_skipped(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "in").mkdir()
    pq.write_table(
        pa.table(
            {
                "id": ["g0", "null", "g1", "blank", "g2"],
                "text": [GOOD[0], None, GOOD[1], "  \n", GOOD[2]],
            }
        ),
        tmp_path / "in" / "a.parquet",
    )
    pq.write_table(
        pa.table({"id": ["other-key"], "body": ["text under the wrong key"]}),
        tmp_path / "in" / "b.parquet",
    )
    root = run(bare_config(tmp_path, "parquet"))
    r = json.loads((write_report(root).parent / "report.json").read_text())
    assert (r["records_read"], r["documents_read"], r["output"]) == (6, 3, 3)
    assert r["skipped"] == {"empty_text": 2, "missing_text_key": 1}
    assert r["accounted"] == r["records_read"]
    rows = sorted(
        (Path(d["metadata"]["file"]).name, d["metadata"]["row"], d["metadata"]["skip_reason"])
        for d in iter_docs(root / "skipped")
    )
    assert rows == [
        ("a.parquet", 1, "empty_text"),
        ("a.parquet", 3, "empty_text"),
        ("b.parquet", 0, "missing_text_key"),
    ]
