"""Training: byte-level round trip, the digit rule in training and encoding, inputs and options."""

from __future__ import annotations

import json
import re

import pytest
from lm_tok_testdata import hard_texts, training_texts
from tokenizers import Tokenizer

from lm_tok import (
    CHAT_TEMPLATE,
    SPECIAL_TOKENS,
    FastEncoder,
    TokenizerConfig,
    load_tokenizer,
    save_tokenizer,
    train_tokenizer,
)
from lm_tok.explain import pretokens


@pytest.mark.wheel
@pytest.mark.parametrize("text", hard_texts())
def test_round_trip_on_hard_text(tok_dir, text):
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    enc = tok.encode(text)
    assert tok.decode(enc.ids, skip_special_tokens=False) == text
    fast = FastEncoder.from_dir(tok_dir)
    assert fast.decode(fast.encode(text)) == text
    assert tok.get_vocab_size() not in enc.ids and None not in enc.ids  # no unknown tokens


@pytest.mark.wheel
def test_special_tokens_take_the_first_ids(tok_dir):
    tok = load_tokenizer(tok_dir)
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(len(SPECIAL_TOKENS)))
    assert tok.get_vocab_size() == 2000


def _token_strings(tok: Tokenizer, text: str) -> list[str]:
    enc = tok.encode(text, add_special_tokens=False)
    return [text[a:b] for a, b in enc.offsets]


@pytest.mark.wheel
@pytest.mark.parametrize(
    ("number", "groups"), [("2024", ["202", "4"]), ("1234567", ["123", "456", "7"])]
)
def test_digits_split_in_groups_of_three_in_training_and_encoding(tok_dir, number, groups):
    # Encoding: the stored split rule, as `tokenizers` and the tiktoken encoder apply it.
    assert pretokens(tok_dir, f"in {number}.") == ["in", " ", *groups, "."]
    tok = load_tokenizer(tok_dir)
    pieces = _token_strings(tok, number)
    assert "".join(pieces) == number
    bounds = {sum(len(p) for p in pieces[: i + 1]) for i in range(len(pieces))}
    assert {len("".join(groups[: i + 1])) for i in range(len(groups))} <= bounds
    fast = FastEncoder.from_dir(tok_dir)
    assert fast.encode(f"in {number}.") == tok.encode(f"in {number}.").ids
    # Training: the corpus is full of 4- to 9-digit numbers, yet no token holds 4 digits,
    # so the trainer saw the same 3-digit pieces the encoders produce.
    vocab = json.loads((tok_dir / "tokenizer.json").read_text())["model"]["vocab"]
    assert "202" in vocab or "192" in vocab
    assert not [t for t in vocab if re.search(r"\d{4}", t)]


def test_training_without_the_rule_would_merge_longer_numbers():
    """The check above can fail: a plain ByteLevel split (GPT-2's) learns 4-digit tokens."""
    from tokenizers import models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        training_texts(), trainers.BpeTrainer(vocab_size=2000, show_progress=False)
    )
    assert [t for t in tok.get_vocab() if re.search(r"\d{4}", t)]


def test_files_of_every_format_train_like_the_texts(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    texts = [t for t in training_texts()[:150] if t.strip()]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"body": t}) + "\n" for t in texts[:75]))
    pq.write_table(pa.table({"body": texts[75:]}), tmp_path / "b.parquet")
    cfg = TokenizerConfig(vocab_size=600)
    from_files = train_tokenizer(
        [tmp_path / "a.jsonl", tmp_path / "b.parquet"], cfg, text_field="body"
    )
    from_texts = train_tokenizer(texts, cfg)
    assert from_files.to_str() == from_texts.to_str()
    (tmp_path / "c.txt").write_text("".join(texts), encoding="utf-8")
    from_text_file = train_tokenizer([tmp_path / "c.txt"], cfg)
    assert from_text_file.get_vocab_size() == 600


@pytest.mark.wheel
def test_a_saved_directory_loads_back_with_its_config_and_round_trips(tmp_path):
    cfg = TokenizerConfig(vocab_size=600)
    tok = train_tokenizer([t for t in training_texts()[:150] if t.strip()], cfg)
    d = save_tokenizer(tok, tmp_path / "tok", cfg)
    names = {p.name for p in d.iterdir()}
    assert {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} <= names
    loaded = load_tokenizer(d)
    assert loaded.get_vocab() == tok.get_vocab() and loaded.get_vocab_size() == 600
    conf = json.loads((d / "tokenizer_config.json").read_text())
    assert (conf["bos_token"], conf["eos_token"], conf["pad_token"]) == (
        "<|bos|>",
        "<|eos|>",
        "<|pad|>",
    )
    assert conf["chat_template"] == CHAT_TEMPLATE and "{% generation %}" in CHAT_TEMPLATE
    for text in hard_texts():
        assert loaded.decode(loaded.encode(text).ids, skip_special_tokens=False) == text
        assert (
            FastEncoder.from_dir(d).encode(text)
            == loaded.encode(text, add_special_tokens=False).ids
        )


def test_min_frequency_limits_merges():
    texts = ["abcdefgh " * 3, "xyz " * 50]
    tok = train_tokenizer(texts, TokenizerConfig(vocab_size=1000, min_frequency=10))
    vocab = tok.get_vocab()
    assert "xyz" in vocab and "abcd" not in vocab


def test_nfc_option_normalises_and_fast_encoder_agrees():
    texts = [*training_texts()[:50], "cafe\u0301 re\u0301sume\u0301 " * 20]
    tok = train_tokenizer(texts, TokenizerConfig(vocab_size=500, nfc=True))
    assert tok.decode(tok.encode("cafe\u0301").ids) == "caf\u00e9"
    fast = FastEncoder(json.loads(tok.to_str()))
    for t in ["cafe\u0301 and A\u030a", *hard_texts()]:
        assert fast.encode(t) == tok.encode(t, add_special_tokens=False).ids


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"vocab_size": 100}, "vocab_size"), ({"min_frequency": 0}, "min_frequency"),
     ({"extra_special_tokens": ("<|bos|>",)}, "extra_special_tokens")],
)
def test_bad_tokenizer_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        TokenizerConfig(**kwargs)
