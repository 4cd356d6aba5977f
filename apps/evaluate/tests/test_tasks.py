"""Each task on a handful of real records, and its metric arithmetic on known answers."""

from __future__ import annotations

import json

import pytest

from lm_core.config import read_toml
from lm_evaluate import (
    EvalConfig,
    Question,
    Scorer,
    choice_accuracy,
    last_number,
    load_scorer,
    run_gsm8k,
    run_lambada,
    run_mmlu,
    run_piqa,
    run_wikitext,
    split_last_word,
    strict_number,
    wikitext_articles,
)
from lm_evaluate.choice import mmlu_questions, piqa_questions
from lm_evaluate.cli import main
from lm_evaluate.data import read_mmlu
from lm_evaluate.gsm8k import normalize_number


@pytest.fixture(scope="module")
def scorer(model_dir) -> Scorer:
    return load_scorer(model_dir, device="cpu", batch_size=8)


class Oracle(Scorer):
    """A scorer that knows the answers: the right continuation gets log-likelihood 0."""

    def __init__(self, base: Scorer, right: set[str]) -> None:
        self.__dict__.update(base.__dict__)
        self.right = right

    def loglikelihood(self, requests):
        out = []
        for r in requests:
            text = self.tokenizer.decode(r.continuation)
            out.append((0.0, True) if text in self.right else (-50.0, False))
        return out


def test_choice_accuracy_raw_and_length_normalised():
    q = Question(context="Q", choices=["a long right answer", "short"], label=0)
    # Raw: "short" wins (-6 > -10); per character: -10/19 beats -6/5, so acc_norm picks the
    # right one.
    assert choice_accuracy([[-10.0, -6.0]], [q]) == {"acc": 0.0, "acc_norm": 1.0}
    assert choice_accuracy([[-1.0, -6.0], [-10.0, -6.0]], [q, q]) == {"acc": 0.5, "acc_norm": 1.0}


def test_piqa_on_real_records(scorer, data_dir):
    path, labels = (
        data_dir / "eval" / "piqa-valid.jsonl",
        data_dir / "eval" / "piqa-valid-labels.lst",
    )
    questions = piqa_questions(path, labels, limit=6)
    assert questions[0].context.startswith("Question: How do I ready a guinea pig cage")
    assert questions[0].context.endswith("\nAnswer:") and len(questions[0].choices) == 2
    result = run_piqa(scorer, path, labels, limit=6)
    assert result["n"] == 6 and set(result["metrics"]) == {"acc", "acc_norm"}
    oracle = Oracle(scorer, {" " + q.choices[q.label] for q in questions})
    assert run_piqa(oracle, path, labels, limit=6)["metrics"] == {"acc": 1.0, "acc_norm": 1.0}


def test_piqa_labels_must_align(tmp_path, data_dir):
    (tmp_path / "labels.lst").write_text("0\n1\n")
    with pytest.raises(ValueError, match="2 labels for 1838 records"):
        piqa_questions(data_dir / "eval" / "piqa-valid.jsonl", tmp_path / "labels.lst")


def test_mmlu_prompt_and_scoring(scorer, data_dir):
    path = data_dir / "eval" / "mmlu.tar.gz"
    dev = read_mmlu(path, "dev")
    assert len(dev) == 57 and sum(map(len, dev.values())) == 285
    q = mmlu_questions(
        dev["abstract_algebra"][:1], "abstract_algebra", dev["abstract_algebra"][1:3]
    )[0]
    assert q.context.startswith(
        "The following are multiple choice questions (with answers) about abstract algebra."
    )
    assert q.context.count("\nAnswer:") == 3 and q.context.endswith("\nD. 3\nAnswer:")
    assert q.choices == ["A", "B", "C", "D"] and q.label == 1
    result = run_mmlu(scorer, path, split="val", shots=1, limit=3, subjects=["anatomy", "virology"])
    assert result["n"] == 6 and set(result["subjects"]) == {"anatomy", "virology"}
    assert result["metrics"]["acc"] == result["metrics"]["acc_norm"]  # one-letter answers


def test_mmlu_oracle_gets_everything_right(scorer, data_dir, monkeypatch):
    # Each question's right letter is known only through the label; an oracle per call proves
    # the wiring.
    import lm_evaluate.choice as choice

    def oracle_scores(_scorer, questions):
        return [[0.0 if i == q.label else -9.0 for i in range(4)] for q in questions]

    monkeypatch.setattr(choice, "score_questions", oracle_scores)
    result = run_mmlu(scorer, data_dir / "eval" / "mmlu.tar.gz", split="val", limit=2,
                      subjects=["anatomy", "astronomy", "virology"])
    assert result["n"] == 6
    assert result["metrics"] == {"acc": 1.0, "acc_norm": 1.0}


def test_lambada_on_real_records(scorer, data_dir):
    path = data_dir / "eval" / "lambada-openai-test.jsonl.gz"
    assert split_last_word("he said hello to Harlin") == ("he said hello to", " Harlin")
    result = run_lambada(scorer, path, limit=4)
    assert (
        result["n"] == 4
        and 0 <= result["metrics"]["acc"] <= 1
        and result["metrics"]["perplexity"] > 1
    )
    from lm_evaluate.data import read_jsonl

    words = {split_last_word(r["text"])[1] for r in read_jsonl(path, 4)}
    assert run_lambada(Oracle(scorer, words), path, limit=4)["metrics"] == {
        "acc": 1.0,
        "perplexity": 1.0,
    }


def test_wikitext_articles_and_perplexity(scorer, data_dir):
    from lm_evaluate.data import read_text

    path = data_dir / "pretrain" / "wikitext-2-tokenized-valid.txt.gz"
    articles = wikitext_articles(read_text(path))
    assert len(articles) == 60 and articles[0].startswith(" = Homarus gammarus = ")
    assert sum(len(a) for a in articles) + len(articles) - 1 >= len(read_text(path).strip())
    result = run_wikitext(scorer, path, limit=1, stride=128)
    m = result["metrics"]
    assert result["n"] == 1 and m["bytes"] == len(articles[0].encode())
    # An untrained model is close to uniform: about log2(vocab) bits per token.
    assert 0.5 < m["bits_per_byte"] * m["bytes"] / m["tokens"] / 9.23 < 1.2


@pytest.mark.parametrize(("text", "expected"), [
    ("She makes 9 * 2 = $18 every day.", "18"),
    ("So the answer is 1,234.50.", "1234.5"),
    ("It costs -3 dollars, not 4.0", "4"),
    ("The total is $100.", "100"),
    ("no digits here", None),
])
def test_gsm8k_last_number(text, expected):
    assert last_number(text) == expected


def test_gsm8k_reference_and_strict_number(data_dir):
    from lm_evaluate.data import read_jsonl

    first = read_jsonl(data_dir / "eval" / "gsm8k-test.jsonl", 1)[0]
    assert strict_number(first["answer"]) == "18"
    assert strict_number("blah #### 1,000") == "1000" and strict_number("no marker 5") is None
    assert normalize_number("3.50") == "3.5" and normalize_number("abc") is None


def test_gsm8k_exact_match_with_known_and_real_generations(scorer, data_dir, monkeypatch):
    path, train = data_dir / "eval" / "gsm8k-test.jsonl", data_dir / "sft" / "gsm8k-train.jsonl.gz"
    result = run_gsm8k(scorer, path, train_path=train, shots=1, max_new_tokens=6, limit=2)
    assert result["n"] == 2 and 0 <= result["metrics"]["exact_match"] <= 1
    assert result["prompt"] == "1-shot" and result["samples"][0]["target"] == "18"
    chat = run_gsm8k(scorer, path, chat=True, max_new_tokens=4, limit=1)
    assert chat["prompt"] == "chat"

    answers = iter(["Janet sells 9 eggs, making 9 * 2 = $18.\n#### 18", "It takes 2 + 1 = 4 bolts"])
    monkeypatch.setattr(Scorer, "generate_text", lambda self, *a, **k: next(answers))
    result = run_gsm8k(scorer, path, shots=0, limit=2)
    assert result["metrics"] == {"exact_match": 0.5, "strict_match": 0.5}  # the second answer is 3


def test_generation_stops_at_stop_strings(scorer):
    prompt = [scorer.bos_id, *scorer.encode("First Citizen:")]
    free = scorer.generate_text(prompt, max_new_tokens=30)
    assert free, "an untrained model still generates text"
    stop = free[len(free) // 2:len(free) // 2 + 1]
    cut = scorer.generate_text(prompt, max_new_tokens=30, stop=[stop])
    assert free.startswith(cut) and stop not in cut


def test_config_rejects_bad_values_before_work(tmp_path):
    with pytest.raises(ValueError, match="tasks"):
        EvalConfig(model=tmp_path, tasks=("hellaswag",))
    with pytest.raises(ValueError, match="mmlu_shots"):
        EvalConfig(model=tmp_path, mmlu_shots=6)
    with pytest.raises(ValueError, match="files"):
        EvalConfig(model=tmp_path, files={"wikitext103": tmp_path})
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="piqa"):
        EvalConfig(model=tmp_path, tasks=("piqa",), data_dir=tmp_path).check_files()


def test_cli_writes_json_and_markdown(model_dir, data_dir, tmp_path, capsys):
    assert main(["run", "--model", str(model_dir), "--data_dir", str(data_dir), "--tasks", "piqa",
                 "lambada", "--limit", "3", "--output", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "results.json").read_text())
    assert [r["task"] for r in report["results"]] == ["piqa", "lambada"]
    table = (tmp_path / "results.md").read_text()
    assert "| piqa | acc_norm |" in table and "`piqa-valid.jsonl`" in table
    assert table in capsys.readouterr().out
    assert read_toml(tmp_path / "lm-evaluate-run.toml")["tasks"] == ["piqa", "lambada"]
    assert main(["run", "--model", str(tmp_path / "nope"), "--tasks", "piqa"]) == 2
    assert "not found" in capsys.readouterr().err
