"""Token shards: datatrove's layout, manifest, bos/eos framing, workers, skipped records."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from lm_tok_testdata import C4, hard_texts, read_jsonl_gz
from tokenizers import Tokenizer

from lm_tok import EncodeConfig, ShardSet, encode_corpus, tokenizer_sha256


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Real web documents plus hard strings, and three broken records, in JSONL.gz."""
    d = tmp_path_factory.mktemp("corpus")
    docs = [r["text"] for r in read_jsonl_gz(C4, 150)] + [t for t in hard_texts() if t]
    lines = [json.dumps({"text": t}) for t in docs[:100]]
    lines += [
        '{"text": "cut off',
        json.dumps({"body": "no text field"}),
        '{"text": "\\ud800 lone"}',
    ]
    lines += [json.dumps({"text": t}) for t in docs[100:]]
    path = d / "docs.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path, docs


def _encode(tok_dir, corpus, out, **kw):
    return encode_corpus(
        EncodeConfig(tokenizer=tok_dir, inputs=(corpus[0],), output=out, progress=False, **kw)
    )


def _read_like_the_readme(d):
    """The README's numpy reader, verbatim: lm-dist reads shards this way, without lm-tok."""
    m = json.loads((d / "manifest.json").read_text())
    docs = []
    for s in m["shards"]:
        tokens = np.memmap(d / s["path"], dtype=np.dtype(m["dtype"]).newbyteorder("<"), mode="r")
        ends = np.fromfile(
            d / (s["path"] + ".index"), dtype="<u8"
        )  # exclusive end of each document
        docs += np.split(tokens, ends[:-1].astype(np.int64))
    return m, docs


@pytest.mark.wheel
def test_shards_hold_every_document_framed_by_bos_and_eos(tok_dir, corpus, tmp_path):
    path, docs = corpus
    m = _encode(tok_dir, corpus, tmp_path / "s", workers=1, shard_max_tokens=5000)
    m2, read = _read_like_the_readme(tmp_path / "s")
    assert m == m2
    assert (
        m["format"].startswith("lm-tok-shards/1")
        and m["dtype"] == "uint16"
        and m["vocab_size"] == 2000
    )
    assert (m["bos_id"], m["eos_id"], m["pad_id"]) == (0, 1, 2)
    assert len(m["shards"]) > 3, "shard_max_tokens must roll shards over"
    assert m["num_documents"] == len(docs) == len(read)
    assert m["num_tokens"] == sum(len(d) for d in read) == sum(s["num_tokens"] for s in m["shards"])
    assert all(s["num_tokens"] <= 5000 or s["num_documents"] == 1 for s in m["shards"])
    # The largest id, per shard and overall, so a trainer need not scan the corpus for it.
    per_shard = [
        int(np.fromfile(tmp_path / "s" / s["path"], dtype="<u2").max()) for s in m["shards"]
    ]
    assert [s["max_token_id"] for s in m["shards"]] == per_shard
    assert m["max_token_id"] == max(per_shard) == max(int(d.max()) for d in read)
    assert m["tokenizer_sha256"] == tokenizer_sha256(tok_dir)
    assert m["sources"] == [{"path": str(path), "num_documents": len(docs), "skipped": 3,
                             "num_bytes": sum(len(t.encode()) for t in docs)}]
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    for ids, text in zip(read, docs, strict=True):
        assert ids[0] == m["bos_id"] and ids[-1] == m["eos_id"]
        assert tok.decode(ids[1:-1].tolist(), skip_special_tokens=False) == text
    assert [len(d) for d in ShardSet(tmp_path / "s").documents()] == [len(d) for d in read]
    # datatrove's own metadata note, beside each .ds
    assert (tmp_path / "s" / "tokens_00000.ds.metadata").read_text().split("\n")[0].endswith("|2")


def test_skipped_records_are_counted_with_file_line_and_reason(tok_dir, corpus, tmp_path):
    m = _encode(tok_dir, corpus, tmp_path / "s", workers=1)
    assert m["skipped"] == 3
    rows = [
        json.loads(line) for line in (tmp_path / "s" / "skipped.jsonl").read_text().splitlines()
    ]
    assert [(r["path"], r["line"]) for r in rows] == [(str(corpus[0]), n) for n in (101, 102, 103)]
    assert "invalid JSON" in rows[0]["reason"] and "'text'" in rows[1]["reason"]
    assert "Unicode" in rows[2]["reason"]


@pytest.mark.wheel
def test_two_workers_and_both_backends_write_identical_shards(tok_dir, corpus, tmp_path):
    _encode(tok_dir, corpus, tmp_path / "one", workers=1, batch_bytes=20_000)
    _encode(tok_dir, corpus, tmp_path / "two", workers=2, batch_bytes=20_000)
    _encode(tok_dir, corpus, tmp_path / "hf", workers=1, backend="tokenizers", add_bos=False)
    one = (tmp_path / "one" / "tokens_00000.ds").read_bytes()
    assert one == (tmp_path / "two" / "tokens_00000.ds").read_bytes()
    assert (tmp_path / "one/tokens_00000.ds.index").read_bytes() == (
        tmp_path / "two/tokens_00000.ds.index"
    ).read_bytes()
    _, with_bos = _read_like_the_readme(tmp_path / "one")
    m, without = _read_like_the_readme(tmp_path / "hf")
    assert m["add_bos"] is False
    assert [d[1:].tolist() for d in with_bos] == [d.tolist() for d in without]


def test_existing_output_is_refused_before_work(tok_dir, corpus, tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "keep.txt").write_text("x")
    with pytest.raises(ValueError, match="not an empty directory"):
        _encode(tok_dir, corpus, tmp_path / "s")


def test_datatrove_reads_the_shards(tok_dir, corpus, tmp_path):
    """datatrove's own reader (needs torch, so only in the workspace run) sees the same tokens."""
    pytest.importorskip("torch")
    dataset = pytest.importorskip("datatrove.utils.dataset")
    m = _encode(tok_dir, corpus, tmp_path / "s", workers=1)
    _, docs = _read_like_the_readme(tmp_path / "s")
    flat = np.concatenate(docs)
    ds = dataset.DatatroveFolderDataset(
        str(tmp_path / "s"), seq_len=63, token_size=2, return_positions=True
    )
    assert len(ds) == m["num_tokens"] // 64
    for i in (0, len(ds) // 2, len(ds) - 1):
        assert ds[i]["input_ids"].tolist() == flat[i * 64 : (i + 1) * 64].tolist()


def test_workers_reading_their_own_pieces_write_the_same_shards(tok_dir, corpus, tmp_path):
    """Plain JSONL cut into byte ranges and Parquet row groups, read by two workers, give the
    shards of the one-piece gzip run, and skipped records keep their line in the whole file."""
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    path, docs = corpus
    plain = tmp_path / "docs.jsonl"
    plain.write_bytes(gzip.decompress(path.read_bytes()))
    table = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"text": [*docs[:100], None, *docs[100:]]}), table, row_group_size=40)
    _encode(tok_dir, corpus, tmp_path / "ref", workers=1)
    ref = [
        (tmp_path / "ref" / f).read_bytes() for f in ("tokens_00000.ds", "tokens_00000.ds.index")
    ]
    for src in (plain, table):
        out = tmp_path / src.suffix[1:]
        m = encode_corpus(EncodeConfig(tokenizer=tok_dir, inputs=(src,), output=out, workers=2,
                                       batch_bytes=20_000, progress=False))
        assert [(out / f).read_bytes() for f in ("tokens_00000.ds", "tokens_00000.ds.index")] == ref
        assert m["sources"][0]["num_documents"] == len(docs)
    rows = [
        json.loads(line) for line in (tmp_path / "jsonl" / "skipped.jsonl").read_text().splitlines()
    ]
    assert [r["line"] for r in rows] == [101, 102, 103]
    rows = [
        json.loads(line)
        for line in (tmp_path / "parquet" / "skipped.jsonl").read_text().splitlines()
    ]
    assert [(r["line"], r["reason"]) for r in rows] == [(100, "null text")]
