"""The heldout task (bits-per-byte of your own text files) and PIQA's explicit label pairing:
what lm-pipeline's eval stage computed by hand, now lm-evaluate's config and tasks."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from lm_evaluate import EvalConfig, Scorer, evaluate, heldout_documents, perplexity
from lm_evaluate.config import ConfigError, InputError
from lm_model.hf import load_dir


@pytest.fixture
def heldout_files(data_dir, tmp_path):
    """A JSONL.gz of two 'books' (as lm-data writes them) and one plain text file."""
    text = (data_dir / "pretrain" / "tinyshakespeare.txt").read_text()
    books = tmp_path / "heldout.jsonl.gz"
    with gzip.open(books, "wt", encoding="utf-8") as f:
        for i, span in enumerate([(200_000, 203_000), (203_000, 204_500)]):
            f.write(json.dumps({"id": f"book-{i}", "text": text[slice(*span)]}) + "\n")
    plain = tmp_path / "extra.txt"
    plain.write_text(text[210_000:211_000])
    return books, plain


def test_heldout_bits_per_byte_equals_the_pipelines_hand_computation(model_dir, heldout_files):
    books, plain = heldout_files
    # What lm_pipeline.evaluation did: every record's text, cut to N characters, into perplexity.
    lines = gzip.decompress(books.read_bytes()).decode().split("\n")
    docs = [json.loads(line)["text"] for line in lines if line]
    docs = [d[:2000] for d in [*docs, plain.read_text()]]
    model, tokenizer = load_dir(model_dir, device="cpu")
    by_hand = perplexity(Scorer(model, tokenizer, batch_size=16), docs)
    report = evaluate(EvalConfig(model=model_dir, tasks=("heldout",), heldout=heldout_files,
                                 heldout_chars=2000, device="cpu"))
    (result,) = report["results"]
    assert (result["task"], result["n"], result["unit"]) == ("heldout", 3, "documents")
    assert result["metrics"]["bytes"] == by_hand["bytes"] == sum(len(d.encode()) for d in docs)
    assert result["metrics"]["bits_per_byte"] == pytest.approx(by_hand["bits_per_byte"], rel=1e-9)
    assert result["files"] == [str(books), str(plain)]


def test_heldout_documents_and_their_errors_name_the_file(heldout_files, tmp_path):
    books, plain = heldout_files
    assert [len(d) for d in heldout_documents([books, plain], max_chars=900)] == [900] * 3
    assert len(heldout_documents([books, plain], limit=1)) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"body": "no text field"}) + "\n")
    with pytest.raises(InputError, match=re.escape(f"{bad}: record 1: field 'text'")):
        heldout_documents([bad])
    assert heldout_documents([bad], text_field="body") == ["no text field"]


def test_heldout_config_is_checked_before_the_model_loads(model_dir, tmp_path):
    with pytest.raises(ConfigError, match="heldout: the heldout task needs"):
        EvalConfig(model=model_dir, tasks=("heldout",))
    with pytest.raises(ConfigError, match="heldout_chars: must be >= 1"):
        EvalConfig(model=model_dir, tasks=("heldout",), heldout=(tmp_path,), heldout_chars=0)
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(FileNotFoundError, match=f"heldout: {missing} not found"):
        EvalConfig(model=model_dir, tasks=("heldout",), heldout=(missing,)).check_files()


def test_task_limits_replace_the_global_limit_per_task(model_dir):
    cfg = EvalConfig(model=model_dir, limit=5, task_limits={"piqa": 3})
    assert (cfg.limit_of("piqa"), cfg.limit_of("gsm8k")) == (3, 5)
    for bad, message in (({"hellaswag": 1}, "task_limits: unknown tasks"),
                         ({"piqa": 0}, "task_limits.piqa: must be >= 1")):
        with pytest.raises(ConfigError, match=message):
            EvalConfig(model=model_dir, task_limits=bad)


def test_piqa_questions_and_labels_are_paired_explicitly(data_dir, tmp_path):
    questions = data_dir / "eval" / "piqa-valid.jsonl"
    # One file of the pair overridden and the other from data_dir would pair the wrong labels.
    with pytest.raises(ConfigError, match="give piqa and piqa_labels together"):
        EvalConfig(model=tmp_path, files={"piqa": questions})
    labels = tmp_path / "labels.lst"
    labels.write_text("0\n1\n")
    # A model directory without weights: the pairing error comes before any model loads.
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "generation_config.json").write_text('{"eos_token_id": 1}')
    cfg = EvalConfig(model=tmp_path, tasks=("piqa",),
                     files={"piqa": questions, "piqa_labels": labels})
    message = f"{labels}: 2 labels for 1838 records in {questions}"
    with pytest.raises(InputError, match=re.escape(message)):
        evaluate(cfg)
