"""The one command-line shape of every lm-stack package and app:

    PROG COMMAND [CONFIG.toml] [--section.field VALUE ...]

A command is a config dataclass and a function that runs it. `main` loads the config (the
command's base, then the file, then the flags: `lm_core.config.load`), configures logging and
calls the function. `PROG COMMAND [CONFIG.toml] --help` prints every field with its docstring
and current value, rendered by tyro from the dataclass. A ConfigError, InputError or
FileNotFoundError (bad input, not a bug) is one line on stderr, `PROG COMMAND: error: MESSAGE`,
exit status 2; any other exception keeps its traceback.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import functools
import inspect
import io
import itertools
import logging
import os
import sys
import textwrap
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tyro

from lm_core.config import field_default, load
from lm_core.errors import ConfigError, InputError

_HELP = ("-h", "--help")


@dataclass(frozen=True)
class Command:
    """One subcommand: its config dataclass and what runs it."""

    config: type
    """The config dataclass the command's TOML file and flags fill."""
    run: Callable[[Any], int | None]
    """Runs the loaded config; returns the exit status (None means 0)."""
    help: str
    """One line for `PROG --help`; also the description of `PROG COMMAND --help`."""
    base: Callable[[], Mapping[str, Any]] | None = None
    """Values under the TOML file (e.g. a preset), computed only when the command runs."""
    errors: tuple[type[BaseException], ...] = ()
    """Further exceptions that mean bad input (e.g. an unreadable checkpoint): one line, exit 2."""
    sections: Callable[[], Mapping[str, type]] | None = None
    """Table fields that hold another config (lm-pipeline's `pretrain` table holds an lm-dist
    `TrainConfig`): `--help` lists that config's fields under the table's name."""


def main(prog: str, commands: Mapping[str, Command], argv: Sequence[str] | None = None, *,
         default: str | None = None) -> int:
    """Run `PROG COMMAND [CONFIG.toml] [--section.field VALUE ...]`; returns the exit status.

    `default` names the command run when the first argument is not a command's name."""
    args = list(sys.argv[1:] if argv is None else argv)
    if (not args and default is None) or (args and args[0] in _HELP):
        print(usage(prog, commands), file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args and args[0] in commands:
        name, rest = args[0], args[1:]
    elif default is not None:
        name, rest = default, args
    else:
        print(f"{prog}: error: unknown command {args[0]!r} (choose from "
              f"{', '.join(commands)}; see {prog} --help)", file=sys.stderr)
        return 2
    command = commands[name]
    path = rest.pop(0) if rest and not rest[0].startswith("-") else None
    try:
        if any(arg in _HELP for arg in rest):
            return _help(prog, name, command, path)
        _configure_logging()
        cfg = load(command.config, path, rest, base=command.base() if command.base else None)
        return int(command.run(cfg) or 0)
    except (ConfigError, InputError, FileNotFoundError, *command.errors) as e:
        print(f"{prog} {name}: error: {_one_line(e)}", file=sys.stderr)
        return 2


def usage(prog: str, commands: Mapping[str, Command]) -> str:
    """`PROG --help`: the shape and one line per command."""
    width = max(map(len, commands), default=0)
    lines = [f"usage: {prog} COMMAND [CONFIG.toml] [--section.field VALUE ...]", "", "commands:"]
    lines += [f"  {name:<{width}}  {command.help}" for name, command in commands.items()]
    lines += ["", f"`{prog} COMMAND --help` lists every field of a command's config."]
    return "\n".join(lines)


def _help(prog: str, name: str, command: Command, path: str | None) -> int:
    """Print the config's fields with their docstrings and the values base and file give."""
    try:
        default = load(command.config, path, base=command.base() if command.base else None)
    except (ConfigError, FileNotFoundError):
        # A required field the file does not give, or a file (or a model directory it names)
        # that is not there yet: help is still wanted, with the class defaults.
        default = None
    described = f"{prog} {name} {path}" if path else f"{prog} {name}"
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            tyro.cli(command.config, args=["--help"], default=default, prog=described,
                     description=f"{command.help}\n\nFlags override the config file "
                                 "(`--section.field VALUE`).",
                     use_underscores=True, config=(tyro.conf.FlagConversionOff,))
        except SystemExit as e:  # tyro exits after printing help
            code = int(e.code or 0)
    text = out.getvalue()
    print(text, end="")
    print(_tables_help(command.config, default, text), end="")
    for table, cls in (command.sections() if command.sections else {}).items():
        print(_section_help(table, cls, getattr(default, table, None) or {}), end="")
    return code


def _section_help(table: str, cls: type, values: Mapping[str, Any]) -> str:
    """Every field of the config `cls` that the table `table` holds, with its docstring, its
    default and the value the table gives it (from a preset or the file), if any."""
    lines = [f"\n[{table}] holds {cls.__module__.split('.')[0]}'s {cls.__name__}:"]
    for flag, doc, default in _leaf_fields(cls, None, f"{table}."):
        given = _lookup(values, flag.removeprefix(f"--{table}.").split("."))
        shown = f"default: {default!r}" + (f", here: {given[0]!r}" if given else "")
        lines += [f"  {flag}", f"      {' '.join(doc.split())} ({shown})"]
    return "\n".join(lines) + "\n"


def _lookup(values: Mapping[str, Any], keys: list[str]) -> tuple[Any, ...]:
    """(the value at `keys` in nested `values`,) or () when it is not there."""
    for key in keys:
        if not isinstance(values, Mapping) or key not in values:
            return ()
        values = values[key]
    return (values,)


def _tables_help(cls: type, default: Any, shown: str) -> str:
    """The fields tyro leaves out of its help (free-form tables such as `dict[str, Any]`):
    they are set in the TOML file, or from a flag as a TOML inline table or key by key."""
    flat = " ".join(shown.split())
    lines = []
    for flag, doc, value in _leaf_fields(cls, default):
        if f"{flag} " not in flat:
            lines += [f"  {flag} TABLE  (or {flag}.KEY VALUE)",
                      f"      {' '.join(doc.split())} (default: {value!r})"]
    if not lines:
        return ""
    return "\ntables (a TOML inline table '{key = value, ...}', or one key per flag):\n" + (
        "\n".join(lines) + "\n")


def _leaf_fields(cls: type, obj: Any, prefix: str = "") -> Iterator[tuple[str, str, Any]]:
    """(flag, docstring, current value) of every field that is not a nested config."""
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        value = getattr(obj, f.name, None) if obj is not None else field_default(f)
        nested = [t for t in typing.get_args(hints[f.name]) or [hints[f.name]]
                  if dataclasses.is_dataclass(t) and isinstance(t, type)]
        if nested:
            yield from _leaf_fields(nested[0], value, f"{prefix}{f.name}.")
        else:
            yield f"--{prefix}{f.name}", docs.get(f.name, ""), value


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of `cls` (and of its bases), as tyro reads them."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__[:-1]):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):  # no source (a compiled or built-in class)
            continue
        body = tree.body[0].body if tree.body and hasattr(tree.body[0], "body") else []
        for node, after in itertools.pairwise(body):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _configure_logging() -> None:
    """INFO to stderr; under torchrun only rank 0 logs INFO, so N ranks do not log N times."""
    rank = os.environ.get("RANK")
    tag = f"[rank{rank}] " if rank is not None else ""
    logging.basicConfig(
        level=logging.INFO if rank in (None, "0") else logging.WARNING, stream=sys.stderr,
        format=f"%(asctime)s {tag}%(levelname)s %(name)s: %(message)s")


__all__ = ["Command", "main", "usage"]
