"""Multiple choice by log-likelihood of each answer (PIQA, MMLU), as lm-eval scores it.

acc picks the answer with the highest total log-likelihood; acc_norm divides it by the
answer's length in characters first, so long answers are not penalised for their length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_evaluate.config import ConfigError, InputError
from lm_evaluate.data import field, read_jsonl, read_mmlu, read_text
from lm_evaluate.scorer import Scorer


@dataclass
class Question:
    context: str
    """Prompt text; each choice is appended after a space."""
    choices: list[str]
    label: int
    """Index of the right choice."""


def choice_accuracy(
    loglikelihoods: Sequence[Sequence[float]], questions: Sequence[Question]
) -> dict[str, float]:
    """acc and acc_norm from each question's per-choice log-likelihoods."""
    acc = acc_norm = 0
    for lls, q in zip(loglikelihoods, questions, strict=True):
        acc += max(range(len(lls)), key=lambda i: lls[i]) == q.label
        normed = [ll / max(len(c), 1) for ll, c in zip(lls, q.choices, strict=True)]
        acc_norm += max(range(len(normed)), key=lambda i: normed[i]) == q.label
    n = len(questions)
    return {"acc": acc / n, "acc_norm": acc_norm / n}


def score_questions(scorer: Scorer, questions: Sequence[Question]) -> list[list[float]]:
    """Log-likelihood of " " + choice after each question's context."""
    requests = [scorer.encode_pair(q.context, " " + c) for q in questions for c in q.choices]
    scores = iter(scorer.loglikelihood(requests))
    return [[next(scores)[0] for _ in q.choices] for q in questions]


def piqa_questions(path: Path, labels_path: Path, limit: int | None = None) -> list[Question]:
    """PIQA records {goal, sol1, sol2} with their labels (one per line, aligned by line)."""
    records = read_jsonl(path)
    labels = [line.strip() for line in read_text(labels_path).split("\n") if line.strip()]
    if len(labels) != len(records):
        raise InputError(
            f"{labels_path}: {len(labels)} labels for {len(records)} records in {path}"
        )
    questions = []
    for i, (record, label) in enumerate(zip(records, labels, strict=True), start=1):
        where = f"{path}: record {i}"
        if label not in ("0", "1"):
            raise InputError(f"{labels_path}:{i}: label {label!r} is not 0 or 1")
        questions.append(Question(
            context=f"Question: {field(record, 'goal', where)}\nAnswer:",
            choices=[field(record, "sol1", where), field(record, "sol2", where)], label=int(label)))
    return questions[:limit]


def run_piqa(
    scorer: Scorer, path: Path, labels_path: Path, *, limit: int | None = None
) -> dict[str, Any]:
    questions = piqa_questions(path, labels_path, limit)
    metrics = choice_accuracy(score_questions(scorer, questions), questions)
    return {"task": "piqa", "n": len(questions), "unit": "questions", "metrics": metrics,
            "files": [str(path), str(labels_path)]}


def _mmlu_block(row: list[str]) -> str:
    options = "".join(f"\n{letter}. {text}" for letter, text in zip("ABCD", row[1:5], strict=True))
    return f"{row[0].strip()}{options}\nAnswer:"


def mmlu_questions(rows: list[list[str]], subject: str, shots: list[list[str]]) -> list[Question]:
    """lm-eval's MMLU prompt: a header, `shots` solved examples, the question; answers are
    letters."""
    header = (
        "The following are multiple choice questions (with answers) about "
        f"{subject.replace('_', ' ')}.\n\n"
    )
    examples = "".join(f"{_mmlu_block(r)} {r[5]}\n\n" for r in shots)
    return [Question(context=header + examples + _mmlu_block(r), choices=list("ABCD"),
                     label="ABCD".index(r[5])) for r in rows]


def run_mmlu(scorer: Scorer, path: Path, *, split: str = "test", shots: int = 0,
             limit: int | None = None, subjects: Sequence[str] = ()) -> dict[str, Any]:
    """Accuracy over all questions (and per subject); `limit` applies per subject."""
    rows = read_mmlu(path, split)
    unknown = sorted(set(subjects) - set(rows))
    if unknown:
        raise ConfigError(f"mmlu: unknown subjects {unknown} in {path}")
    if subjects:
        rows = {s: r for s, r in rows.items() if s in subjects}
    dev = read_mmlu(path, "dev") if shots else {}
    per_subject, questions, lls = {}, [], []
    for subject, subject_rows in rows.items():
        qs = mmlu_questions(subject_rows[:limit], subject, dev.get(subject, [])[:shots])
        subject_lls = score_questions(scorer, qs)
        per_subject[subject] = choice_accuracy(subject_lls, qs)["acc"]
        questions += qs
        lls += subject_lls
    metrics = choice_accuracy(lls, questions)
    return {"task": "mmlu", "n": len(questions), "unit": "questions", "metrics": metrics,
            "files": [str(path)], "shots": shots, "split": split, "subjects": per_subject}
