from __future__ import annotations

import csv
import io
import json
import tarfile
from pathlib import Path

import pytest
from datatrove.data import Document
from datatrove.utils.word_tokenizers import load_word_tokenizer
from lm_data_testdata import bare_config

from lm_data.config import DecontamConfig, LanguageConfig, PIIConfig, URLFilterConfig
from lm_data.decontam import Decontamination, words
from lm_data.filters import (
    PackagedC4BadWordsFilter,
    badwords_path,
    fasttext_lid176_path,
    language_filter,
    url_filter,
)
from lm_data.pii import pii_formatter


def doc(text: str, url: str = "https://example.com/a", **meta) -> Document:
    return Document(text=text, id="d", metadata={"url": url, **meta})


def test_english_word_tokenizer_works_offline():
    """Gopher, FineWeb and MinHash tokenize English with datatrove's tokenizer: no punkt
    download."""
    tok = load_word_tokenizer("en")
    assert tok.word_tokenize("Dr. Smith paid $3.50, didn't he?")[:3] == ["Dr.", "Smith", "paid"]
    assert len(tok.sent_tokenize("One sentence here. And a second one.")) == 2


@pytest.mark.wheel
def test_language_filter_uses_packaged_model_and_keeps_score():
    assert fasttext_lid176_path().name == "lid.176.ftz"
    f = language_filter(LanguageConfig(languages=["en"], threshold=0.65), None)
    en = doc("The quick brown fox jumps over the lazy dog while the farmers watch from the field.")
    de = doc(
        "Der schnelle braune Fuchs springt über den faulen Hund, während die Bauern zuschauen."
    )
    assert f.filter(en) is True
    assert en.metadata["language"] == "en" and en.metadata["language_score"] > 0.65
    assert f.filter(de) == (False, "lang_de")


@pytest.mark.wheel
def test_language_filter_pickles_after_use_and_reloads():
    """datatrove's process pool pickles earlier stages' filters; a loaded model must not travel."""
    import pickle

    f = language_filter(LanguageConfig(languages=["en"], threshold=0.65), None)
    assert f.filter(doc("The quick brown fox jumps over the lazy dog in the green field.")) is True
    copy = pickle.loads(pickle.dumps(f))
    de = doc(
        "Der schnelle braune Fuchs springt über den faulen Hund, während die Bauern zuschauen."
    )
    assert copy.filter(de) == (False, "lang_de")


def test_url_filter_blocks_adult_domain_offline():
    f = url_filter(URLFilterConfig(extra_domains=["spam-farm.biz"]), None)
    assert f.filter(doc("x", url="https://www.bbc.co.uk/news/science")) is True
    assert f.filter(doc("x", url="https://spam-farm.biz/page"))[0] is False
    assert f.filter(doc("x", url="https://www.pornhub.com/view"))[0] is False


@pytest.mark.wheel
def test_badwords_read_from_package():
    assert badwords_path("en") is not None and badwords_path("xx") is None
    f = PackagedC4BadWordsFilter(fail_on_missing_language=False)
    assert f.filter(doc("A calm text about gardening.", language="en")) is True
    assert f.filter(doc("this is a porn site.", language="en"))[0] is False
    # The wheel ships every list and its licence: a wheel missing its data files fails here.
    assert badwords_path("de") is not None and badwords_path("en").stat().st_size > 1000
    assert (badwords_path("en").parent / "README.md").is_file()


def test_decontamination_drops_gsm8k_test_question(shared):
    path = shared / "eval" / "gsm8k-test.jsonl"
    question = json.loads(path.read_text().split("\n")[0])["question"]
    f = Decontamination(DecontamConfig(eval_files=[str(path)]))
    assert (
        f.filter(doc("A blog post about cooking pasta with tomatoes and basil for dinner.")) is True
    )
    contaminated = doc(f"Homework help! Here is my problem: {question} Please answer quickly.")
    assert f.filter(contaminated) == (False, "gsm8k-test")
    assert contaminated.metadata["contamination_ngram"] in " ".join(words(question))


def _mmlu_question(tarball: Path, min_words: int = 20) -> str:
    """The first long enough question of the MMLU test split in the tarball."""
    with tarfile.open(tarball) as tar:
        for member in tar:
            if member.isfile() and "/test/" in member.name and member.name.endswith(".csv"):
                handle = tar.extractfile(member)
                assert handle is not None
                for row in csv.reader(io.TextIOWrapper(handle, encoding="utf-8")):
                    if len(words(row[0])) >= min_words:
                        return row[0]
    raise AssertionError(f"{tarball}: no MMLU test question of {min_words} words")


def test_decontamination_drops_a_document_with_an_mmlu_question(shared, tmp_path):
    from lm_data import run, write_report
    from lm_data.report import iter_docs

    tarball = shared / "eval" / "mmlu.tar.gz"
    question = _mmlu_question(tarball)
    docs = [
        {
            "id": "clean",
            "text": "A blog post about cooking pasta with tomatoes and basil for dinner.",
        },
        {"id": "leak", "text": f"Practice exam, question 4. {question} Write your answer below."},
    ]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    root = run(bare_config(tmp_path, decontam=DecontamConfig(eval_files=[str(tarball)])))
    assert [d["id"] for d in iter_docs(root / "output")] == ["clean"]
    (dropped,) = iter_docs(root / "excluded" / "decontamination")
    assert dropped["id"] == "leak" and dropped["text"] == docs[1]["text"]
    assert dropped["metadata"]["filter_reason"] == "mmlu"
    assert dropped["metadata"]["contamination_ngram"] in " ".join(words(question))
    report = json.loads((write_report(root).parent / "report.json").read_text())
    row = next(r for r in report["filters"] if r["filter"] == "decontamination")
    assert (row["in"], row["removed"], row["top_reasons"]) == (2, 1, [["mmlu", 1]])


def test_pii_replaces_emails_and_public_ips():
    f = pii_formatter(PIIConfig())
    text = f.format("Write to jane.doe@corp-mail.com or ping 8.8.8.8; the router is 192.168.1.1.")
    assert "jane.doe@corp-mail.com" not in text and "8.8.8.8" not in text
    assert "example.com" in text or "example.org" in text
    assert "192.168.1.1" in text  # private addresses are not personal data


def test_gopher_alpha_rule_counts_words_not_punctuation():
    """Punctuated, number-heavy prose passes on words but fails on datatrove's spaCy tokens."""
    from lm_data.config import QualityConfig
    from lm_data.filters import quality_filters

    text = " ".join(
        f"Well, the {team} team (ranked first, again) led early; fans, however, went to lunch "
        "and left at 4:45 p.m."
        for team in ("red", "blue", "green", "gold", "grey", "black", "white", "pink")
    )

    def gopher(**kw):
        [f] = [
            f
            for f in quality_filters(QualityConfig(**kw), lambda name: None)
            if "Gopher Quality" in f.name
        ]
        return f

    assert gopher().filter(doc(text)) is True
    assert gopher(gopher_alpha_words="tokens").filter(doc(text)) == (
        False,
        "gopher_below_alpha_threshold",
    )
    numbers = " ".join(
        f"{1007 + i} {7919 + i} {104729 + i} {2000 + i} the and" for i in range(20)
    )  # mostly digits: still dropped
    assert gopher().filter(doc(numbers)) == (False, "gopher_below_alpha_threshold")


def test_c4_min_sentences_is_configurable():
    from lm_data.config import QualityConfig
    from lm_data.filters import quality_filters

    text = (
        "The bridge will be closed on Monday morning.\nTraffic will use Stewart Road instead.\n"
        "Please expect some delays."
    )

    def c4(**kw):
        [f] = [
            f
            for f in quality_filters(QualityConfig(**kw), lambda name: None)
            if f.name == "⛰ C4 Quality"
        ]
        return f

    assert c4().filter(doc(text)) is True
    assert c4(c4_min_sentences=5).filter(doc(text)) == (False, "too_few_sentences")


def test_a_bad_evaluation_line_names_file_and_line(tmp_path):
    from lm_core import InputError
    from lm_data.decontam import iter_eval_texts

    path = tmp_path / "eval.jsonl"
    path.write_text('{"question": "What is two and two?"}\n{"question": \n')
    with pytest.raises(InputError, match=rf"{path}:2: invalid JSON"):
        list(iter_eval_texts(path, ["question"]))
