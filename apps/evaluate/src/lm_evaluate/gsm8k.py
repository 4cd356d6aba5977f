"""GSM8K: generate a solution greedily and compare its final number with the reference's."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from lm_evaluate.config import ConfigError, InputError
from lm_evaluate.data import field, read_jsonl
from lm_evaluate.scorer import Scorer

_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?|-?\.\d+")
_STRICT = re.compile(r"####\s*(-?\$?[\d,]*\.?\d+)")
#: Where a plain few-shot answer ends: the model starts the next question.
FEWSHOT_STOP = ("\n\nQuestion:", "Question:", "\n\n\n")


def normalize_number(text: str) -> str | None:
    """"$1,234.50" → "1234.5"; None if it is not a number."""
    cleaned = text.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    value = value.normalize()
    # normalize() writes 100 as 1E+2; quantize back to a plain integer when it is one.
    if value == value.to_integral_value():
        value = value.quantize(Decimal(1))
    return str(value)


def last_number(text: str) -> str | None:
    """The last number in a generated solution, normalised (lm-eval's flexible extract)."""
    matches = _NUMBER.findall(text)
    return normalize_number(matches[-1]) if matches else None


def strict_number(text: str) -> str | None:
    """The number after `####` (the format of the reference answers), normalised."""
    m = _STRICT.search(text)
    return normalize_number(m.group(1)) if m else None


def reference_answer(answer: str, where: str) -> str:
    """The number after `####` in a GSM8K reference answer."""
    number = strict_number(answer)
    if number is None:
        raise InputError(f"{where}: answer has no '#### <number>'")
    return number


def fewshot_prefix(examples: list[dict[str, Any]], where: str) -> str:
    return "".join(
        f"Question: {field(r, 'question', where)}\nAnswer: {field(r, 'answer', where)}\n\n"
        for r in examples
    )


def _prompt_ids(scorer: Scorer, question: str, prefix: str, chat: bool) -> list[int]:
    if chat:
        messages = [{"role": "user", "content": question}]
        return list(scorer.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                         tokenize=True, return_dict=False))
    return [scorer.bos_id, *scorer.encode(f"{prefix}Question: {question}\nAnswer:")]


def run_gsm8k(scorer: Scorer, path: Path, *, train_path: Path | None = None, shots: int = 5,
              chat: bool = False, max_new_tokens: int = 256, limit: int | None = None,
              progress: bool = False) -> dict[str, Any]:
    """exact_match: the last number of the generation; strict_match: the number after ####.

    A reply ends at the scorer's stop ids (eos, and the end of turn of a chat template) or,
    few-shot, where the model starts the next question."""
    prefix = ""
    if not chat and shots:
        if train_path is None:
            raise ConfigError("gsm8k: few-shot prompts need the train file")
        prefix = fewshot_prefix(read_jsonl(train_path, shots), str(train_path))
    records = read_jsonl(path, limit)
    exact = strict = 0
    samples = []
    for i, record in enumerate(tqdm(records, desc="gsm8k", disable=not progress), start=1):
        where = f"{path}: record {i}"
        question = field(record, "question", where)
        target = reference_answer(field(record, "answer", where), where)
        reply = scorer.generate_text(_prompt_ids(scorer, question, prefix, chat),
                                     max_new_tokens=max_new_tokens,
                                     stop=() if chat else FEWSHOT_STOP)
        exact += last_number(reply) == target
        strict += strict_number(reply) == target
        if len(samples) < 3:
            samples.append({"question": question, "reply": reply, "target": target})
    n = len(records)
    return {
        "task": "gsm8k",
        "n": n,
        "unit": "problems",
        "prompt": "chat" if chat else f"{shots}-shot",
        "files": [str(path)] + ([str(train_path)] if prefix else []),
        "metrics": {"exact_match": exact / n, "strict_match": strict / n},
        "samples": samples,
    }
