"""The tiktoken encoder gives `tokenizers`' ids, on hard text and on real documents."""

from __future__ import annotations

import json

import pytest
from lm_tok_testdata import C4, DATA, hard_texts, read_jsonl_gz
from tokenizers import Tokenizer

from lm_tok import FastEncoder


def _real_documents() -> list[str]:
    docs = [r["text"] for r in read_jsonl_gz(C4)[200:500]]
    docs += [
        r["text"]
        for r in read_jsonl_gz(DATA / "web" / "text" / "dolma-cc-2019-30-sample-697.jsonl.gz", 100)
    ]
    book = read_jsonl_gz(DATA / "pretrain" / "gutenberg-20-books.jsonl.gz", 1)[0]["text"]
    return [*docs, book[:300_000]]


@pytest.mark.wheel
def test_fast_ids_equal_tokenizers_ids(tok_dir):
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    tok.encode_special_tokens = True
    fast = FastEncoder.from_dir(tok_dir)
    texts = hard_texts() + _real_documents() + ["<|eos|> inside text is text, <|bos|> too"]
    expected = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    assert fast.encode_batch(texts) == expected
    assert [fast.encode_to_numpy(t).tolist() for t in texts] == expected
    assert fast.vocab_size == tok.get_vocab_size()


@pytest.mark.wheel
def test_special_token_strings_are_not_injected(tok_dir):
    fast = FastEncoder.from_dir(tok_dir)
    assert fast.special_tokens["<|eos|>"] not in fast.encode("a <|eos|> b")


def test_out_of_order_merges_are_refused(tok_dir):
    tj = json.loads((tok_dir / "tokenizer.json").read_text())
    merges = tj["model"]["merges"]
    merges[10], merges[200] = merges[200], merges[10]
    with pytest.raises(ValueError, match="out of id order"):
        FastEncoder(tj)


def test_other_pre_tokenizers_are_refused(tok_dir):
    tj = json.loads((tok_dir / "tokenizer.json").read_text())
    tj["pre_tokenizer"] = {
        "type": "ByteLevel",
        "add_prefix_space": False,
        "trim_offsets": True,
        "use_regex": True,
    }
    with pytest.raises(ValueError, match="pre_tokenizer"):
        FastEncoder(tj)
