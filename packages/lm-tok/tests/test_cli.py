"""The CLI: each command end to end on small inputs; errors name the file or field."""

from __future__ import annotations

import gzip
import json

import pytest
from lm_tok_testdata import SHAKESPEARE

from lm_tok.cli import main


def _run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as e:  # tyro reports flag and __post_init__ errors itself, exit status 2
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_train_encode_inspect(tmp_path, capsys):
    tok = tmp_path / "tok"
    code, _, err = _run(capsys, "train", "--inputs", str(SHAKESPEARE), "--output", str(tok),
                        "--vocab-size", "400", "--no-progress")
    assert code == 0, err
    assert json.loads((tok / "tokenizer.json").read_text())["model"]["type"] == "BPE"
    assert json.loads((tok / "lm-tok-train.json").read_text())["tokenizer"]["vocab_size"] == 400
    docs = tmp_path / "d.jsonl"
    docs.write_text('{"text": "To be, or not to be"}\n{"text": "2024"}\n')
    code, out, err = _run(capsys, "encode", "--tokenizer", str(tok), "--inputs", str(docs),
                          "--output", str(tmp_path / "s"), "--workers", "1", "--no-progress")
    assert code == 0, err
    assert "2 documents" in out and json.loads((tmp_path / "s" / "manifest.json").read_text())["num_documents"] == 2
    code, out, _ = _run(capsys, "inspect", "--tokenizer", str(tok), "--text", "In 1234567")
    assert code == 0 and "'123' | '456' | '7'" in out


def test_toml_config_with_flag_override(tmp_path, capsys):
    cfg = tmp_path / "train.toml"
    cfg.write_text(f'inputs = ["{SHAKESPEARE}"]\noutput = "{tmp_path / "tok"}"\nprogress = false\n'
                   "[tokenizer]\nvocab_size = 500\nmin_frequency = 3\n")
    code, _, err = _run(capsys, "train", "--config", str(cfg), "--vocab-size", "350")
    assert code == 0, err
    resolved = json.loads((tmp_path / "tok" / "lm-tok-train.json").read_text())["tokenizer"]
    assert (resolved["vocab_size"], resolved["min_frequency"]) == (350, 3)


def test_missing_input_names_the_file(tmp_path, capsys):
    code, _, err = _run(capsys, "train", "--inputs", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "t"))
    assert code == 2 and "nope.jsonl" in err and "not found" in err
    assert not (tmp_path / "t").exists()


def test_unknown_format_and_corrupt_gzip_name_the_file(tmp_path, capsys):
    odd = tmp_path / "data.csv"
    odd.write_text("a,b\n")
    code, _, err = _run(capsys, "train", "--inputs", str(odd), "--output", str(tmp_path / "t"))
    assert code == 2 and "data.csv" in err and "unknown input format" in err
    bad = tmp_path / "docs.jsonl.gz"
    bad.write_bytes(b"this is not gzip at all")
    code, _, err = _run(capsys, "train", "--inputs", str(bad), "--output", str(tmp_path / "t"), "--no-progress")
    assert code == 2 and "docs.jsonl.gz" in err and "cannot read" in err


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
                        "--vocab-size", "10")
    assert code == 2 and "vocab_size" in err


def test_bad_toml_names_the_file(tmp_path, capsys):
    cfg = tmp_path / "broken.toml"
    cfg.write_text("inputs = [\n")
    code, _, err = _run(capsys, "study", "--config", str(cfg))
    assert code == 2 and "broken.toml" in err


def test_usage_without_a_command(capsys):
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2 and "train" in capsys.readouterr().err
