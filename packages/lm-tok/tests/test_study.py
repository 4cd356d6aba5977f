"""The vocabulary study, and the compression a 32k tokenizer reaches on a held-out book."""

from __future__ import annotations

import json

import pytest
from lm_tok_testdata import SHAKESPEARE, gutenberg_books

from lm_tok import (
    FastEncoder,
    StudyConfig,
    TokenizerConfig,
    run_study,
    save_tokenizer,
    train_tokenizer,
)
from lm_tok.study import measure


def test_study_reports_each_size_and_writes_table_and_plot(tmp_path):
    text = SHAKESPEARE.read_text(encoding="utf-8")
    (tmp_path / "train.txt").write_text(text[:300_000], encoding="utf-8")
    (tmp_path / "heldout.txt").write_text(text[-60_000:], encoding="utf-8")
    cfg = StudyConfig(inputs=(tmp_path / "train.txt",), heldout=(tmp_path / "heldout.txt",),
                      output=tmp_path / "study", vocab_sizes=(1024, 300, 512), progress=False)
    rows = run_study(cfg)
    assert [r["vocab_size"] for r in rows] == [300, 512, 1024]
    bpt = [r["bytes_per_token"] for r in rows]
    assert bpt == sorted(bpt) and bpt[-1] > bpt[0] + 0.5  # bigger vocabularies compress more
    tpw = [r["tokens_per_word"] for r in rows]
    assert tpw == sorted(tpw, reverse=True)
    assert all(0 < r["vocab_used"] <= 1 for r in rows)
    assert rows[0]["heldout_bytes"] == len(text[-60_000:].encode())
    out = cfg.output
    assert json.loads((out / "study.json").read_text())["rows"] == rows
    assert (out / "study.md").read_text().count("\n") == 5
    assert (out / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "tok-512" / "tokenizer.json").is_file()


def test_study_holds_out_every_kth_document(tmp_path):
    lines = [json.dumps({"text": f"document {i}: " + "word " * (i % 7 + 1)}) for i in range(200)]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    cfg = StudyConfig(inputs=(tmp_path / "d.jsonl",), output=tmp_path / "s", vocab_sizes=(300,),
                      holdout_every=4, plot=False, progress=False, min_frequency=1)
    (row,) = run_study(cfg)
    held = [json.loads(x)["text"] for i, x in enumerate(lines) if i % 4 == 3]
    assert row["heldout_bytes"] == sum(len(t.encode()) for t in held)


@pytest.mark.slow
def test_32k_tokenizer_reaches_4_bytes_per_token_on_a_heldout_book(tmp_path):
    books = gutenberg_books()
    heldout = books.pop("Wuthering Heights")
    train = list(books.values())[:10]  # part of the corpus: ten books, about 10 MB
    cfg = TokenizerConfig(vocab_size=32768)
    d = save_tokenizer(train_tokenizer(train, cfg), tmp_path / "tok", cfg)
    row = measure(FastEncoder.from_dir(d), iter([heldout]), 32768)
    print(f"bytes/token on Wuthering Heights: {row['bytes_per_token']:.3f}")
    assert row["bytes_per_token"] >= 4.0
