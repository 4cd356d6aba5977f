"""Adapters on the real files: counts, malformed records, rendering through lm-tok's chat
template, and the assistant mask covering exactly each reply and its end-of-turn token."""

from __future__ import annotations

import gzip
import json
import logging

import pytest
from align_testdata import DATA, GSM8K, HH_RLHF

from lm_align.adapters import (
    FORMATS,
    alpaca,
    chat_messages,
    detect_format,
    gsm8k,
    hh_rlhf,
    hh_turns,
    load_examples,
    orca_pair,
    self_instruct,
    stack_exchange_pair,
)

pytestmark = pytest.mark.wheel

# (file, format, records used, examples, skipped): counted by hand from the files.
REAL_FILES = [
    ("sft/gsm8k-train.jsonl.gz", "gsm8k", 7473, 7473, 0),
    ("sft/alpaca-tiny-100.json", "alpaca", 100, 100, 0),
    ("sft/code-alpaca-2k.json.gz", "alpaca", 2015, 2015, 2),  # two records have an empty output
    ("sft/alpaca-seed-tasks-175.jsonl", "self_instruct", 175, 175, 0),
    ("sft/self-instruct-user-oriented-252.jsonl", "self_instruct", 252, 252, 0),
    ("dpo/hh-rlhf-harmless-base-test.jsonl.gz", "hh_rlhf", 2308, 2308, 4),  # four empty replies
    ("dpo/orca-dpo-pairs-validation.jsonl.gz", "orca_pairs", 284, 284, 0),
    ("dpo/stack-exchange-paired-tiny-25.json", "stack_exchange", 25, 25, 0),
]


@pytest.mark.parametrize(("name", "fmt", "records", "examples", "skipped"), REAL_FILES)
def test_real_files_parse_with_detected_format(name, fmt, records, examples, skipped):
    loaded = load_examples(DATA / name)
    assert (loaded.format, loaded.records, len(loaded.examples), len(loaded.skipped)) == (
        fmt, records, examples, skipped)
    kind = FORMATS[fmt].kind
    for ex in loaded.examples[:50]:
        if kind == "sft":
            assert ex["messages"][-1]["role"] == "assistant" and ex["messages"][-1]["content"]
        else:
            assert ex["prompt"][-1]["role"] == "user"
            assert ex["chosen"][0]["role"] == ex["rejected"][0]["role"] == "assistant"
            assert ex["chosen"] != ex["rejected"]


def test_hh_rlhf_splits_turns_and_shares_the_prefix():
    with gzip.open(HH_RLHF, "rt", encoding="utf-8") as f:
        record = json.loads(f.readline())
    [pair] = hh_rlhf(record)
    turns = hh_turns(record["chosen"])
    assert pair["prompt"] == turns[:-1] and pair["chosen"] == turns[-1:]
    roles = [t["role"] for t in pair["prompt"]]
    assert roles == ["user", "assistant"] * (len(roles) // 2) + ["user"] and len(roles) >= 3
    assert pair["prompt"][0]["content"] == "what are some pranks with a pen i can do?"
    assert pair["rejected"][0]["content"] == hh_turns(record["rejected"])[-1]["content"]
    assert not any("Human:" in t["content"] or "Assistant:" in t["content"] for t in turns)


def test_adapters_on_single_records():
    assert (
        alpaca({"instruction": "Add.", "input": "2 3", "output": "5"})[0]["messages"][0]["content"]
        == "Add.\n\n2 3"
    )
    assert (
        alpaca({"instruction": "Hi", "input": "", "output": "Hello"})[0]["messages"][0]["content"]
        == "Hi"
    )
    assert gsm8k({"question": "1+1?", "answer": "1+1=2\n#### 2"})[0]["messages"][1][
        "content"
    ].endswith("#### 2")
    seeds = self_instruct({"instruction": "Sort", "instances": [{"input": "b a", "output": "a b"},
                                                                 {"input": "x", "output": ""}]})
    assert len(seeds) == 1  # the instance without output is dropped
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"}]
    assert chat_messages({"messages": msgs}) == [{"messages": msgs}]
    pair = orca_pair({"input": {"messages": msgs[:2]}, "preferred_output": [msgs[2]],
                      "non_preferred_output": [{"role": "assistant", "content": "Go away"}]})[0]
    assert pair["prompt"] == msgs[:2] and pair["chosen"] == [msgs[2]]
    se = stack_exchange_pair({"question": "Q?", "response_j": "good", "response_k": "bad"})[0]
    assert se["chosen"][0]["content"] == "good" and se["rejected"][0]["content"] == "bad"


@pytest.mark.parametrize(
    ("adapter", "record", "reason"),
    [
        (alpaca, {"instruction": "x"}, "'output'"),
        (gsm8k, {"question": "q", "answer": 3}, "'answer'"),
        (gsm8k, ["not", "a", "dict"], "JSON object"),
        (self_instruct, {"instruction": "x", "instances": []}, "'instances'"),
        (chat_messages, {"messages": [{"role": "user", "content": "hi"}]}, "assistant"),
        (chat_messages, {"messages": [{"role": "robot", "content": "hi"}]}, "role"),
        (hh_rlhf, {"chosen": "Human: no leading blank lines", "rejected": "x"}, "start"),
        (
            hh_rlhf,
            {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: c\n\nAssistant: d"},
            "share",
        ),
        (
            hh_rlhf,
            {"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: a\n\nAssistant: b"},
            "identical",
        ),
        (
            orca_pair,
            {"input": {"messages": []}, "preferred_output": [], "non_preferred_output": []},
            "input.messages",
        ),
        (
            stack_exchange_pair,
            {"question": "q", "response_j": "", "response_k": "b"},
            "'response_j'",
        ),
    ],
)
def test_malformed_records_raise_with_the_reason(adapter, record, reason):
    with pytest.raises(ValueError, match=reason):
        adapter(record)


def test_bad_lines_are_skipped_counted_and_logged(tmp_path, caplog):
    path = tmp_path / "mixed.jsonl"
    good = json.dumps({"question": "1+1?", "answer": "#### 2"})
    # U+2028 inside a record must not split it: lines are cut at "\n" only.
    sep = json.dumps({"question": "a\u2028b", "answer": "c\u0085d"}, ensure_ascii=False)
    path.write_text("\n".join([good, "{not json", json.dumps({"question": "q"}), "", sep]) + "\n",
                    encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="lm_align.adapters"):
        loaded = load_examples(path, "gsm8k")
    assert len(loaded.examples) == 2 and loaded.records == 2
    assert [(s["line"], s["path"]) for s in loaded.skipped] == [(2, str(path)), (3, str(path))]
    assert loaded.examples[1]["messages"][0]["content"] == "a\u2028b"
    assert f"{path}:2: skipped" in caplog.text and f"{path}:3: skipped" in caplog.text


def test_a_file_with_no_valid_record_is_an_error_naming_it(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": "q"}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl: no valid gsm8k record \(2 skipped\)"):
        load_examples(path, "gsm8k")
    with pytest.raises(FileNotFoundError, match=r"missing\.jsonl"):
        load_examples(tmp_path / "missing.jsonl")
    with pytest.raises(ValueError, match="no known format"):
        load_examples(_write(tmp_path / "odd.jsonl", {"foo": 1}))


def _write(path, record):
    path.write_text(json.dumps(record) + "\n")
    return path


def test_detect_format_prefers_the_most_specific_keys():
    assert detect_format({"instruction": "a", "input": "", "output": "b", "text": "t"}) == "alpaca"
    assert (
        detect_format({"question": "q", "response_j": "a", "response_k": "b"}) == "stack_exchange"
    )
    assert detect_format({"question": "q", "answer": "a"}) == "gsm8k"


# --- rendering through the chat template -------------------------------------------------


@pytest.fixture(scope="module")
def hf_tokenizer(tok_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tok_dir)


def _assistant_spans(tokenizer, messages):
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True,
                                        return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    spans, current = [], []
    for token, m in zip(ids, mask, strict=True):
        if m:
            current.append(token)
        elif current:
            spans.append(current)
            current = []
    if current:
        spans.append(current)
    return ids, [tokenizer.decode(s) for s in spans]


def test_gsm8k_sample_renders_and_the_mask_covers_exactly_the_reply(hf_tokenizer):
    from lm_tok import render_chat

    example = load_examples(GSM8K).examples[0]
    ids, spans = _assistant_spans(hf_tokenizer, example["messages"])
    assert hf_tokenizer.decode(ids) == render_chat(example["messages"])
    assert hf_tokenizer.decode(ids).startswith("<|bos|><|user|>Natalia sold clips")
    assert spans == [example["messages"][1]["content"] + "<|eot|>"]


def test_hh_rlhf_multi_turn_masks_every_assistant_turn(hf_tokenizer):
    pair = load_examples(HH_RLHF).examples[0]
    messages = pair["prompt"] + pair["chosen"]
    _, spans = _assistant_spans(hf_tokenizer, messages)
    assert spans == [m["content"] + "<|eot|>" for m in messages if m["role"] == "assistant"]


def test_preference_rows_score_exactly_the_final_reply(hf_tokenizer):
    from lm_align.evaluation import preference_rows

    pair = load_examples(DATA / "dpo/orca-dpo-pairs-validation.jsonl.gz").examples[3]
    chosen, rejected = preference_rows(hf_tokenizer, [pair], max_length=None)
    for (ids, mask), side in ((chosen, "chosen"), (rejected, "rejected")):
        scored = [t for t, m in zip(ids, mask, strict=True) if m]
        assert hf_tokenizer.decode(scored) == pair[side][0]["content"] + "<|eot|>"


def test_a_line_that_is_not_utf8_is_one_skipped_record_not_a_lost_file(tmp_path):
    """lm-core's JSONL reader: a bad line of a .jsonl.gz is skipped with its line and reason;
    the file's other records are still used, in order. A JSON array file still reads."""
    path = tmp_path / "sft.jsonl.gz"
    good = [json.dumps({"instruction": f"Say {w}.", "input": "", "output": w}).encode()
            for w in ("yes", "no")]
    with gzip.open(path, "wb") as f:
        f.write(good[0] + b"\n" + b'{"instruction": "caf\xe9"}\n' + good[1] + b"\n")
    loaded = load_examples(path)
    assert (loaded.format, loaded.records) == ("alpaca", 2)
    assert [(s["line"], s["reason"][:13]) for s in loaded.skipped] == [(2, "invalid UTF-8")]
    array = tmp_path / "sft.json"
    array.write_text("\n [" + b",".join(good).decode() + "]")
    assert load_examples(array).records == 2
