"""The CLI: each command end to end on small inputs; errors name the file or field."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from lm_tok_testdata import SHAKESPEARE

from lm_core.config import load, read_toml
from lm_tok.cli import main
from lm_tok.config import TokenizerTrainConfig


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_encode_inspect(tmp_path, capsys):
    tok = tmp_path / "tok"
    code, _, err = _run(capsys, "train", "--inputs", str(SHAKESPEARE), "--output", str(tok),
                        "--tokenizer.vocab_size", "400", "--progress", "false")
    assert code == 0, err
    assert json.loads((tok / "tokenizer.json").read_text())["model"]["type"] == "BPE"
    assert read_toml(tok / "lm-tok-train.toml")["tokenizer"]["vocab_size"] == 400
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"text": "To be, or not to be"}\n{"text": "2024"}\n')
    code, out, err = _run(capsys, "encode", "--tokenizer", str(tok), "--inputs", str(docs),
                          "--output", str(tmp_path / "s"), "--workers", "1", "--progress", "false")
    assert code == 0, err
    assert (
        "2 documents" in out
        and json.loads((tmp_path / "s" / "manifest.json").read_text())["num_documents"] == 2
    )
    code, out, _ = _run(capsys, "inspect", "--tokenizer", str(tok), "--text", "In 1234567")
    assert code == 0 and "'123' | '456' | '7'" in out


def test_toml_config_with_flag_override(tmp_path, capsys):
    cfg = tmp_path / "train.toml"
    cfg.write_text(f'inputs = ["{SHAKESPEARE}"]\noutput = "{tmp_path / "tok"}"\nprogress = false\n'
                   "[tokenizer]\nvocab_size = 500\nmin_frequency = 3\n")
    code, _, err = _run(capsys, "train", str(cfg), "--tokenizer.vocab_size", "350")
    assert code == 0, err
    resolved = read_toml(tmp_path / "tok" / "lm-tok-train.toml")["tokenizer"]
    assert (resolved["vocab_size"], resolved["min_frequency"]) == (350, 3)


def test_missing_input_names_the_file(tmp_path, capsys):
    code, _, err = _run(
        capsys, "train", "--inputs", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "t")
    )
    assert code == 2 and "nope.jsonl" in err and "not found" in err
    assert not (tmp_path / "t").exists()


def test_unknown_format_and_corrupt_gzip_name_the_file(tmp_path, capsys):
    odd = tmp_path / "data.csv"
    odd.write_text("a,b\n")
    code, _, err = _run(capsys, "train", "--inputs", str(odd), "--output", str(tmp_path / "t"))
    assert code == 2 and "data.csv" in err and "unknown input format" in err
    bad = tmp_path / "docs.jsonl.gz"
    bad.write_bytes(b"this is not gzip at all")
    code, _, err = _run(capsys, "train", "--inputs", str(bad), "--output", str(tmp_path / "t"),
                        "--progress", "false")
    assert code == 2 and "docs.jsonl.gz" in err and "not a readable gzip file" in err


def test_bad_tokenizer_dir_and_bad_config_fail_before_work(tmp_path, capsys, tok_dir):
    docs = tmp_path / "d.jsonl.gz"
    with gzip.open(docs, "wt") as f:
        f.write('{"text": "x"}\n')
    code, _, err = _run(capsys, "encode", "--tokenizer", str(tmp_path), "--inputs", str(docs),
                        "--output", str(tmp_path / "s"))
    assert code == 2 and str(tmp_path / "tokenizer.json") in err
    assert not (tmp_path / "s").exists()
    code, _, err = _run(capsys, "encode", "--tokenizer", str(tok_dir), "--inputs", str(docs),
                        "--output", str(tmp_path / "s"), "--workers", "-1")
    assert code == 2 and "workers" in err
    code, _, err = _run(capsys, "train", "--inputs", str(docs), "--output", str(tmp_path / "t"),
                        "--tokenizer.vocab_size", "10")
    assert code == 2 and "vocab_size" in err


def test_bad_toml_names_the_file(tmp_path, capsys):
    cfg = tmp_path / "broken.toml"
    cfg.write_text("inputs = [\n")
    code, _, err = _run(capsys, "study", str(cfg))
    assert code == 2 and "broken.toml" in err


def test_usage_without_a_command(capsys):
    assert main([]) == 2 and "train" in capsys.readouterr().err


def test_toml_values_are_coerced_to_the_field_types(tmp_path):
    cfg = tmp_path / "train.toml"
    cfg.write_text(
        f'inputs = ["{SHAKESPEARE}"]\noutput = "out"\nprogress = "False"\nmax_bytes = "1000"\n'
        '[tokenizer]\nvocab_size = "500"\nnfc = "true"\n'
    )
    train = load(TokenizerTrainConfig, cfg)
    assert train.progress is False and train.max_bytes == 1000
    assert (train.tokenizer.vocab_size, train.tokenizer.nfc) == (500, True)


@pytest.mark.parametrize("body, message", [
    ('progress = "Flase"\n', "progress: Input should be a valid boolean"),
    ("workers = 2.5\n", "workers: Input should be a valid integer"),
    ("text_field = 3\n", "text_field: Input should be a valid string"),
    ('backend = "sentencepiece"\n', "backend: Input should be 'tiktoken' or 'tokenizers'"),
    ("worker = 2\n", r"worker: unknown key \(known: "),
])
def test_bad_toml_values_name_the_file_and_field(tmp_path, capsys, tok_dir, body, message):
    cfg = tmp_path / "encode.toml"
    cfg.write_text(
        f'tokenizer = "{tok_dir}"\ninputs = ["{SHAKESPEARE}"]\noutput = "{tmp_path / "s"}"\n{body}'
    )
    code, _, err = _run(capsys, "encode", str(cfg))
    assert code == 2 and "Traceback" not in err
    assert re.search(rf"^lm-tok encode: error: {re.escape(str(cfg))}: {message}", err), err
    assert not (tmp_path / "s").exists()


def test_nested_table_wrong_type_and_unknown_key(tmp_path, capsys):
    cfg = tmp_path / "train.toml"
    head = f'inputs = ["{SHAKESPEARE}"]\noutput = "{tmp_path / "t"}"\n[tokenizer]\n'
    cfg.write_text(head + 'vocab_size = "big"\n')
    code, _, err = _run(capsys, "train", str(cfg))
    assert code == 2 and "train.toml: tokenizer.vocab_size: Input should be a valid integer" in err
    cfg.write_text(head + "vocab = 500\n")
    code, _, err = _run(capsys, "train", str(cfg))
    assert code == 2 and "train.toml: tokenizer.vocab: unknown key" in err


def test_toml_syntax_error_is_one_line_with_the_line(tmp_path, capsys):
    cfg = tmp_path / "broken.toml"
    cfg.write_text('inputs = ["a.jsonl"]\noutput = \n')
    code, _, err = _run(capsys, "train", str(cfg))
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert re.search(r"broken\.toml: invalid TOML: .*line 2", err), err


def test_encode_with_every_record_bad_fails_and_says_where_they_are(tmp_path, capsys, tok_dir):
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"text": 1}\n{"body": "no text field"}\nnot json\n')
    out = tmp_path / "s"
    code, _, err = _run(capsys, "encode", "--tokenizer", str(tok_dir), "--inputs", str(docs),
                        "--output", str(out), "--workers", "1", "--progress", "false")
    assert code == 2
    assert (
        f"no documents encoded: 3 records skipped (each listed in {out / 'skipped.jsonl'})" in err
    )
    listed = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert [r["line"] for r in listed] == [1, 2, 3] and all(r["path"] == str(docs) for r in listed)


@pytest.mark.parametrize("bug", [ValueError("internal"), KeyError("internal")])
def test_internal_errors_keep_their_traceback(tmp_path, capsys, monkeypatch, tok_dir, bug):
    def broken(cfg):
        raise bug

    monkeypatch.setattr("lm_tok.cli.encode_corpus", broken)
    with pytest.raises(type(bug), match="internal"):
        main(
            [
                "encode",
                "--tokenizer",
                str(tok_dir),
                "--inputs",
                str(SHAKESPEARE),
                "--output",
                str(tmp_path / "s"),
            ]
        )
    # ...while a bad config is still a one-line error.
    code, _, err = _run(capsys, "encode", "--tokenizer", str(tok_dir), "--inputs", str(SHAKESPEARE),
                        "--output", str(tmp_path / "s"), "--workers", "-1")
    assert code == 2 and "workers: must be >= 0" in err


def test_missing_required_field_in_toml_is_named(tmp_path, capsys):
    cfg = tmp_path / "encode.toml"
    cfg.write_text(f'inputs = ["{SHAKESPEARE}"]\noutput = "{tmp_path / "s"}"\n')
    code, _, err = _run(capsys, "encode", str(cfg))
    assert code == 2 and err.strip() == f"lm-tok encode: error: {cfg}: tokenizer: Field required"
