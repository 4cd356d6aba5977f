"""Real instruction and preference files → trl's conversational format.

SFT examples are ``{"messages": [{"role", "content"}, ...]}``; preference pairs are
``{"prompt": [...], "chosen": [...], "rejected": [...]}`` where the prompt is the shared
conversation and chosen/rejected hold the final assistant turn. Each adapter takes one
parsed record and returns a list of examples (Self-Instruct tasks hold several instances),
or raises `ValueError` with the reason; `load_examples` reads a file, skips and counts the
records an adapter refuses, logs each with its line number, and fails if none is usable.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from lm_align.errors import InputError
from lm_core.jsonl import iter_jsonl
from lm_tok.chat import ROLE_TOKENS

logger = logging.getLogger(__name__)

Message = dict[str, str]
Example = dict[str, Any]
Adapter = Callable[[Any], list[Example]]


def _text(record: dict, key: str, *, allow_empty: bool = False) -> str:
    value = record.get(key)
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} is missing or not a string")
    if not allow_empty and not value.strip():
        raise ValueError(f"field {key!r} is empty")
    return value


def _record(record: Any) -> dict:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    return record


def _turn(role: str, content: str) -> Message:
    return {"role": role, "content": content.strip()}


def _instruction(instruction: str, extra: str) -> str:
    """Alpaca's prompt body: the instruction, then its input if there is one."""
    return f"{instruction.strip()}\n\n{extra.strip()}" if extra.strip() else instruction.strip()


# --- SFT formats -------------------------------------------------------------------------


def alpaca(record: Any) -> list[Example]:
    """Alpaca / Code Alpaca `{instruction, input, output}` → one user/assistant exchange."""
    r = _record(record)
    user = _instruction(_text(r, "instruction"), r.get("input") or "")
    return [{"messages": [_turn("user", user), _turn("assistant", _text(r, "output"))]}]


def gsm8k(record: Any) -> list[Example]:
    """GSM8K `{question, answer}`; the answer keeps its worked steps and `#### N` line."""
    r = _record(record)
    return [
        {"messages": [_turn("user", _text(r, "question")), _turn("assistant", _text(r, "answer"))]}
    ]


def self_instruct(record: Any) -> list[Example]:
    """Self-Instruct / Alpaca seed tasks `{instruction, instances: [{input, output}]}`: one
    exchange per instance; instances without an output are dropped, none left is an error."""
    r = _record(record)
    instruction = _text(r, "instruction")
    instances = r.get("instances")
    if not isinstance(instances, list) or not instances:
        raise ValueError("field 'instances' is missing or empty")
    out = []
    for inst in instances:
        if (
            not isinstance(inst, dict)
            or not isinstance(inst.get("output"), str)
            or not inst["output"].strip()
        ):
            continue
        user = _instruction(instruction, inst.get("input") or "")
        out.append({"messages": [_turn("user", user), _turn("assistant", inst["output"])]})
    if not out:
        raise ValueError("no instance has a non-empty 'output'")
    return out


_ROLES = tuple(ROLE_TOKENS)  # the roles lm-tok's chat template renders


def _messages(value: Any, where: str) -> list[Message]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where} is not a non-empty list of messages")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise ValueError(f"{where}[{i}]: role must be one of {_ROLES}")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"{where}[{i}]: content is missing or not a string")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def chat_messages(record: Any) -> list[Example]:
    """Plain chat `{messages: [{role, content}, ...]}` with at least one non-empty assistant
    turn."""
    messages = _messages(_record(record).get("messages"), "messages")
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise ValueError("messages: no non-empty assistant turn")
    return [{"messages": messages}]


# --- preference formats ------------------------------------------------------------------

_HH_TURN = re.compile(r"\n\n(Human|Assistant): ?")


def hh_turns(transcript: str) -> list[Message]:
    """Split an hh-rlhf `\\n\\nHuman: … \\n\\nAssistant: …` transcript into chat turns;
    consecutive turns of one speaker are joined (a few transcripts have them)."""
    parts = _HH_TURN.split(transcript)
    if len(parts) < 3 or parts[0].strip():
        raise ValueError("transcript does not start with '\\n\\nHuman: '")
    turns: list[Message] = []
    for speaker, content in zip(parts[1::2], parts[2::2], strict=True):
        role = "user" if speaker == "Human" else "assistant"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + content.strip()
        else:
            turns.append(_turn(role, content))
    return turns


def _pair(prompt: list[Message], chosen: str, rejected: str) -> list[Example]:
    if not chosen.strip() or not rejected.strip():
        raise ValueError("chosen or rejected reply is empty")
    if chosen.strip() == rejected.strip():
        raise ValueError("chosen and rejected replies are identical")
    if not prompt or prompt[-1]["role"] != "user":
        raise ValueError("the prompt does not end with a user turn")
    return [{"prompt": prompt, "chosen": [_turn("assistant", chosen)],
             "rejected": [_turn("assistant", rejected)]}]


def hh_rlhf(record: Any) -> list[Example]:
    """Anthropic hh-rlhf `{chosen, rejected}` transcripts: the shared turns are the prompt,
    the final assistant turns are the two replies."""
    r = _record(record)
    chosen, rejected = hh_turns(_text(r, "chosen")), hh_turns(_text(r, "rejected"))
    if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        raise ValueError("a transcript does not end with an assistant turn")
    if chosen[:-1] != rejected[:-1]:
        raise ValueError("chosen and rejected do not share the conversation before the last reply")
    return _pair(chosen[:-1], chosen[-1]["content"], rejected[-1]["content"])


def _single_reply(value: Any, key: str) -> str:
    messages = _messages(value, key)
    if len(messages) != 1 or messages[0]["role"] != "assistant":
        raise ValueError(f"{key} must be exactly one assistant message")
    return messages[0]["content"]


def orca_pair(record: Any) -> list[Example]:
    """Orca DPO pairs `{input: {messages}, preferred_output, non_preferred_output}`."""
    r = _record(record)
    source = r.get("input")
    if not isinstance(source, dict):
        raise ValueError("field 'input' is missing or not an object")
    prompt = _messages(source.get("messages"), "input.messages")
    return _pair(prompt, _single_reply(r.get("preferred_output"), "preferred_output"),
                 _single_reply(r.get("non_preferred_output"), "non_preferred_output"))


def stack_exchange_pair(record: Any) -> list[Example]:
    """Stack Exchange paired `{question, response_j, response_k}`; `response_j` is preferred."""
    r = _record(record)
    return _pair(
        [_turn("user", _text(r, "question"))], _text(r, "response_j"), _text(r, "response_k")
    )


# --- the registry and the file reader ----------------------------------------------------


@dataclass(frozen=True)
class Format:
    """A named input format: its adapter, the kind of examples it gives, and the keys that
    identify it in `format="auto"`."""

    adapter: Adapter
    kind: Literal["sft", "preference"]
    keys: frozenset[str]


FORMATS: dict[str, Format] = {
    "alpaca": Format(alpaca, "sft", frozenset({"instruction", "output"})),
    "gsm8k": Format(gsm8k, "sft", frozenset({"question", "answer"})),
    "self_instruct": Format(self_instruct, "sft", frozenset({"instruction", "instances"})),
    "messages": Format(chat_messages, "sft", frozenset({"messages"})),
    "hh_rlhf": Format(hh_rlhf, "preference", frozenset({"chosen", "rejected"})),
    "orca_pairs": Format(
        orca_pair, "preference", frozenset({"input", "preferred_output", "non_preferred_output"})
    ),
    "stack_exchange": Format(
        stack_exchange_pair, "preference", frozenset({"question", "response_j", "response_k"})
    ),
}
"""Every supported input format by name (the `format` of a data config)."""


def detect_format(record: Any) -> str:
    """The format whose identifying keys a record has (the most specific one wins)."""
    if isinstance(record, dict):
        matches = [name for name, f in FORMATS.items() if f.keys <= record.keys()]
        if matches:
            return max(matches, key=lambda n: len(FORMATS[n].keys))
    keys = sorted(record) if isinstance(record, dict) else type(record).__name__
    raise ValueError(
        f"no known format has the keys {keys}; set the format explicitly ({', '.join(FORMATS)})"
    )


def read_records(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield `(line, record)` from JSONL or a JSON array (optionally gzipped); a JSONL line
    that is not valid JSON (or UTF-8) yields a `ValueError` as its record. For a JSON array
    the number is the record's 1-based index."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: data file not found")
    if _starts_with_bracket(path):
        yield from enumerate(_json_array(path), start=1)
        return
    bad: list[tuple[int, ValueError]] = []
    for number, record in iter_jsonl(path, on_error=lambda n, _raw, why: bad.append(
            (n, ValueError(why)))):
        yield from bad
        bad.clear()
        yield number, record
    yield from bad


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _starts_with_bracket(path: Path) -> bool:
    """Whether the file's first non-blank byte opens a JSON array."""
    try:
        with _open(path) as f:
            while chunk := f.read(4096):
                if chunk.strip():
                    return chunk.lstrip().startswith(b"[")
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: cannot read: {e}") from e
    return False


def _json_array(path: Path) -> list[Any]:
    try:
        with _open(path) as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read: {e}") from e
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not a valid JSON array: {e}") from e


@dataclass
class Loaded:
    """What `load_examples` read from one file."""

    path: Path
    format: str
    examples: list[Example] = field(default_factory=list)
    records: int = 0
    """Records that gave at least one example."""
    skipped: list[dict[str, Any]] = field(default_factory=list)
    """One `{"path", "line", "reason"}` per record that was skipped."""


def load_examples(path: str | Path, format: str = "auto") -> Loaded:
    """Read `path` and convert every record with the adapter of `format` ("auto": guessed
    from the first record). Bad records are skipped, logged with their line and counted;
    a file with no usable record raises `InputError` naming the file."""
    path = Path(path)
    if format != "auto" and format not in FORMATS:
        raise InputError(f"format: unknown {format!r} (known: auto, {', '.join(FORMATS)})")
    out = Loaded(path=path, format=format)
    for line, record in read_records(path):
        if out.format == "auto" and not isinstance(record, Exception):
            try:
                out.format = detect_format(record)
            except ValueError as e:
                raise InputError(f"{path}:{line}: {e}") from e
        try:
            if isinstance(record, Exception):
                raise record
            if out.format == "auto":  # no parseable record yet to guess from
                raise ValueError("format not known yet")
            examples = FORMATS[out.format].adapter(record)
        except ValueError as e:
            out.skipped.append({"path": str(path), "line": line, "reason": str(e)})
            logger.warning("%s:%d: skipped: %s", path, line, e)
            continue
        out.examples.extend(examples)
        out.records += 1
    if not out.examples:
        raise InputError(f"{path}: no valid {out.format} record ({len(out.skipped)} skipped)")
    logger.info("%s: %d examples from %d %s records, %d skipped", path, len(out.examples),
                out.records, out.format, len(out.skipped))
    return out
