"""Config dataclasses from TOML files and `--section.field VALUE` flags, and back to TOML.

Every lm-stack command is configured the same way: a dataclass (one field per knob, a docstring
per field, `__post_init__` raising ValueError naming the field), filled from

    base (a preset, a pipeline section)  <-  CONFIG.toml  <-  --section.field VALUE flags

by `load`. Loading is strict: an unknown key anywhere is an error (pydantic alone would ignore
it, and a misspelt field would silently keep its default). Values are coerced by pydantic
against the field's annotation (`"100"` is 100 for an int, `"false"` is False for a bool, a
single value is a one-element list for a tuple field). Every problem becomes one `ConfigError`
whose message names where it comes from: `WHERE: section.field: message`, WHERE being the file
or the flag, all problems joined by "; ".
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import datetime
import functools
import json
import math
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pydantic

from lm_core.errors import ConfigError

T = TypeVar("T")

_Loc = tuple[str, ...]
_Problem = tuple[_Loc, str]  # (where in the config, "section.field: message")
_SEQUENCES = (tuple, list, set, frozenset, collections.abc.Sequence)
_NAMED = re.compile(r"^[A-Za-z_][\w.]*: ")  # a message that already starts "field: ..."
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
NONE = "none"
"""How a file or flag says None (TOML has no null), for a field that admits None and no text."""


# ---------------------------------------------------------------------------------- dict -> cfg


def from_dict(cls: type[T], data: Mapping[str, Any], *, where: str = "") -> T:
    """`cls` built from nested mappings (a parsed TOML file); every problem (unknown key, value
    of the wrong type, a failed `__post_init__` check) is collected into one `ConfigError`."""
    cfg, problems = _build(cls, data, {}, where)
    if problems:
        raise ConfigError(_render(problems, lambda loc, text: where))
    return cfg


def _build(cls: type[T], data: Mapping[str, Any], typed: Mapping[_Loc, str],
           where: str) -> tuple[T | None, list[_Problem]]:
    """`typed` maps the keys set by a flag to the text typed after it; `where` names the
    source in a FileNotFoundError raised by a `__post_init__` (pydantic passes those on)."""
    problems: list[_Problem] = []
    prepared = _prepare(cls, data, (), problems, typed)
    if problems:  # unknown keys first: pydantic would report a misspelt required field as missing
        return None, problems
    try:
        return _adapter(cls).validate_python(prepared), []
    except pydantic.ValidationError as e:
        return None, [_describe(err) for err in e.errors()]
    except FileNotFoundError as e:  # e.g. "model: out/hf/config.json not found"
        if not where:
            raise
        raise FileNotFoundError(f"{where}: {e}") from e


@functools.cache
def _adapter(cls: type) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(cls)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _prepare(cls: type, data: Any, loc: _Loc, problems: list[_Problem],
             typed: Mapping[_Loc, str]) -> Any:
    """`data` checked for unknown keys against `cls`'s fields, recursively into nested config
    dataclasses, with a scalar given to a sequence field made a one-element list."""
    if not isinstance(data, Mapping):
        problems.append((loc, f"{_dotted(loc) or 'config'}: must be a table, got {_short(data)}"))
        return data
    hints = _hints(cls)
    fields = sorted(f.name for f in dataclasses.fields(cls) if f.init)
    out = {}
    for key, value in data.items():
        if key not in fields:
            problems.append(((*loc, key), f"{_dotted((*loc, key))}: unknown key "
                                          f"(known: {', '.join(fields)})"))
            continue
        out[key] = _prepare_value(hints[key], value, (*loc, key), problems, typed)
    return out


def _prepare_value(tp: Any, value: Any, loc: _Loc, problems: list[_Problem],
                   typed: Mapping[_Loc, str]) -> Any:
    options = _union_args(tp)
    if value == NONE and _spells_none(tp):
        return None  # TOML has no null: `max_length = "none"`, `--train.max_length none`
    nested = [t for t in options if dataclasses.is_dataclass(t) and isinstance(t, type)]
    if nested and isinstance(value, Mapping):
        return _prepare(nested[0], value, loc, problems, typed)
    items = [_item_dataclass(t) for t in options if _is_sequence(t)]
    if any(items) and isinstance(value, list):  # `[[inputs]]`: a list of config tables
        cls = next(c for c in items if c)
        return [_prepare(cls, v, (*loc, str(i)), problems, typed) for i, v in enumerate(value)]
    if loc in typed and _is_scalar(value) and not isinstance(value, str) and all(
            _holds_text(t) for t in options):
        value = typed[loc]  # a flag is read as TOML first: `--name 8` is 8, meant as the text "8"
    if options and all(_is_sequence(t) for t in options) and _is_scalar(value):
        return [value]  # `--inputs a.jsonl` or `inputs = "a.jsonl"`: one input
    return value


def _item_dataclass(tp: Any) -> type | None:
    """The config dataclass a sequence type holds (`list[InputConfig]`), or None."""
    args = [t for t in typing.get_args(tp) if t is not Ellipsis]
    if len(args) == 1 and dataclasses.is_dataclass(args[0]) and isinstance(args[0], type):
        return args[0]
    return None


def _spells_none(tp: Any) -> bool:
    """Whether `tp` admits None and no text, so that the text "none" can only mean None."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ()
    return type(None) in args and not any(_holds_text(t) or t is Any for t in args)


def _holds_text(tp: Any) -> bool:
    """str or Path, or a sequence of them."""
    if _is_sequence(tp):
        args = [t for t in typing.get_args(tp) if t is not Ellipsis]
        return bool(args) and all(t in (str, Path) for t in args)
    return tp in (str, Path)


def _union_args(tp: Any) -> list[Any]:
    """The alternatives of `tp` (one for a plain type), None left out."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [t for t in typing.get_args(tp) if t is not type(None)]
    return [tp]


def _is_sequence(tp: Any) -> bool:
    """A list, set or tuple of any length (a fixed-length tuple wants all its items)."""
    origin = typing.get_origin(tp) or tp
    if origin is tuple:
        return Ellipsis in typing.get_args(tp)
    return isinstance(origin, type) and issubclass(origin, _SEQUENCES) and origin is not str


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _describe(error: Any) -> _Problem:
    """One pydantic error as (loc, "section.field: message")."""
    loc = tuple(str(part) for part in error["loc"])
    where = _dotted(loc)
    if error["type"] in ("value_error", "assertion_error"):  # a __post_init__ check
        message = str(error["ctx"]["error"])
        if not where or message.startswith(where):
            return loc, message
        # A nested config names its own field ("vocab_size: ..."): prefix the section.
        return loc, f"{where}.{message}" if _NAMED.match(message) else f"{where}: {message}"
    got = "" if error["type"] == "missing" else f" (got {_short(error['input'])})"
    return loc, f"{where}: {error['msg']}{got}" if where else f"{error['msg']}{got}"


def _dotted(loc: _Loc) -> str:
    return ".".join(loc)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _render(problems: list[_Problem], where: Callable[[_Loc, str], str]) -> str:
    parts = []
    for loc, text in problems:
        prefix = where(loc, text)
        parts.append(f"{prefix}: {text}" if prefix else text)
    return "; ".join(parts)


# ---------------------------------------------------------------------------------- cfg -> dict


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as nested dicts that TOML can hold: Paths as str, tuples as lists,
    None left out where it is the default, else written "none" (`max_length = "none"`), so
    that `from_dict(type(cfg), to_dict(cfg))` rebuilds it."""
    out = _plain(cfg)
    if not isinstance(out, dict):
        raise TypeError(f"to_dict needs a config dataclass or a mapping, got {type(cfg).__name__}")
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if not f.init:
                continue
            if item is not None:
                out[f.name] = _plain(item)
            elif field_default(f) is not None and _spells_none(_hints(type(value))[f.name]):
                out[f.name] = NONE  # None where the default is not: it must be written down
        return out
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | list | set | frozenset):
        return [_plain(v) for v in value]
    return value


def field_default(f: dataclasses.Field) -> Any:
    """A dataclass field's default value (its factory called), or None when it has none."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def to_toml(cfg: Any) -> str:
    """The config (a dataclass or nested dicts) as a TOML document."""
    return _table(to_dict(cfg), "")


def _table(values: Mapping[str, Any], prefix: str) -> str:
    lines, tables = [], []
    for key, value in values.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        name = f"{prefix}{_key(key)}"
        out += f"\n[{name}]\n" + _table(value, f"{name}.")
    return out


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        # A JSON string (ensure_ascii off: only " \ and control characters escaped) is TOML's.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} ({type(value).__name__}) to TOML")


# ------------------------------------------------------------------------------ files and flags


def read_toml(path: str | Path) -> dict[str, Any]:
    """The tables of a TOML file; a syntax error is a ConfigError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:  # its message ends "(at line L, column C)"
        raise ConfigError(f"{path}: invalid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 text (byte {e.start})") from None


def merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` on top, tables merged key by key; a new dict (neither input
    is changed)."""
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_overrides(args: Sequence[str]) -> dict[str, Any]:
    """Nested dicts from `--a.b.c VALUE` / `--a.b.c=VALUE` flags ('-' in names read as '_').

    A VALUE is read as a TOML value when it parses as one (`1e-4`, `true`, `["en", "fr"]`,
    `"x"`), else as the text itself (`out/run`); several VALUEs after one flag make a list.
    """
    out: dict[str, Any] = {}
    for keys, flag, value, _ in _parse(args):
        table = out
        for key in keys[:-1]:
            inner = table.setdefault(key, {})
            if not isinstance(inner, dict):
                raise ConfigError(f"{flag}: {_dotted(keys[:-1])} was given a value by an "
                                  "earlier flag, so it cannot also be a table")
            table = inner
        table[keys[-1]] = value
    return out


def _parse(args: Sequence[str]) -> list[tuple[_Loc, str, Any, str]]:
    """(keys, flag as given, value, the text typed) for each override."""
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"{arg}: expected an override --section.field VALUE")
        name, eq, raw = arg[2:].partition("=")
        flag, i = f"--{name}", i + 1
        values = [raw] if eq else []
        while not eq and i < len(args) and not args[i].startswith("--"):
            values.append(args[i])
            i += 1
        keys = tuple(part.replace("-", "_") for part in name.split("."))
        if not all(k.isidentifier() for k in keys):
            raise ConfigError(f"{flag}: not a field name (expected --section.field VALUE)")
        if not values:
            raise ConfigError(f"{flag}: no value given (expected {flag} VALUE)")
        value = _flag_value(values[0]) if len(values) == 1 else [_flag_value(v) for v in values]
        out.append((keys, flag, value, " ".join(values)))
    return out


def _flag_value(raw: str) -> Any:
    try:
        parsed = tomllib.loads(f"v = {raw}")
    except tomllib.TOMLDecodeError:
        return raw
    value = parsed.get("v")
    # A date-like text is meant as text; more than one key means the text held a newline.
    if len(parsed) != 1 or isinstance(value, datetime.date | datetime.time):
        return raw
    return value


def load(cls: type[T], path: str | Path | None = None, args: Sequence[str] = (), *,
         base: Mapping[str, Any] | None = None) -> T:
    """`cls` from `base` <- the TOML file at `path` <- the `args` overrides; each problem is
    named by the flag that set the value, else by the file."""
    data = dict(base or {})
    if path is not None:
        data = merge(data, read_toml(path))
    flags = _parse(args)
    data = merge(data, parse_overrides(args))
    typed = {keys: raw for keys, _, _, raw in flags}
    cfg, problems = _build(cls, data, typed, "" if path is None else str(path))
    if problems:
        raise ConfigError(_render(problems, lambda loc, text: _blame(loc, text, flags, path)))
    return cfg


def _blame(loc: _Loc, text: str, flags: list[tuple[_Loc, str, Any, str]],
           path: str | Path | None) -> str:
    named = _NAMED.match(text)
    if named and len(named.group(0)) > len(".".join(loc)) + 2:
        # A check of a whole config names the field it refused ("train.extra: ...").
        loc = tuple(named.group(0)[:-2].split("."))
    for keys, flag, _, _ in reversed(flags):  # the last flag for a key is the one that counts
        n = min(len(keys), len(loc))
        if loc and keys[:n] == loc[:n]:
            return flag
    return "" if path is None else str(path)


def write_resolved(cfg: Any, directory: str | Path, name: str) -> Path:
    """Write `cfg` as TOML to `directory/name` (directory created), so a run can be redone
    with `COMMAND directory/name`; returns the file."""
    out = Path(directory) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_toml(cfg), encoding="utf-8")
    return out


__all__ = [
    "NONE",
    "from_dict",
    "load",
    "merge",
    "parse_overrides",
    "read_toml",
    "to_dict",
    "to_toml",
    "write_resolved",
]
