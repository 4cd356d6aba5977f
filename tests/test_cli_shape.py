"""Every command of every package and app has the one CLI shape of lm-core:

    PROG COMMAND [CONFIG.toml] [--section.field VALUE ...]

`--help` shows each config field as its dotted flag with the first line of its docstring, and
the same malformed override is the same one-line error, exit status 2. The CLIs run in-process
(their `main(argv)`), so the whole table takes seconds.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import typing
from collections.abc import Callable, Iterator

import pytest

from lm_core.cli import field_docs

# (prog, command, the module whose `main(argv)` is the console script).
COMMANDS: list[tuple[str, str, str]] = [
    ("lm-data", "run", "lm_data.cli"),
    ("lm-data", "report", "lm_data.cli"),
    ("lm-tok", "train", "lm_tok.cli"),
    ("lm-tok", "encode", "lm_tok.cli"),
    ("lm-tok", "study", "lm_tok.cli"),
    ("lm-tok", "inspect", "lm_tok.cli"),
    ("lm-dist", "train", "lm_dist.cli"),
    ("lm-dist", "export", "lm_dist.cli"),
    ("lm-pretrain", "train", "lm_pretrain.cli"),
    ("lm-pretrain", "list", "lm_pretrain.cli"),
    ("lm-pretrain", "show", "lm_pretrain.cli"),
    ("lm-align", "sft", "lm_align.cli"),
    ("lm-align", "dpo", "lm_align.cli"),
    ("lm-evaluate", "run", "lm_evaluate.cli"),
    ("lm-evaluate", "harness", "lm_evaluate.cli"),
    ("lm-chat", "chat", "lm_chat.cli"),
    ("lm-chat", "serve", "lm_chat.cli"),
    ("lm-pipeline", "run", "lm_pipeline.cli"),
]
IDS = [f"{prog} {command}" for prog, command, _ in COMMANDS]


def _cli(module: str) -> tuple[Callable[[list[str]], int], dict]:
    mod = importlib.import_module(module)
    return mod.main, mod.COMMANDS


def _fields(cls: type, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted flag name, first docstring line) of every leaf field, nested configs walked."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        options = [t for t in typing.get_args(tp) if t is not type(None)] or [tp]
        nested = [t for t in options if dataclasses.is_dataclass(t) and isinstance(t, type)]
        if nested:
            yield from _fields(nested[0], f"{prefix}{f.name}.")
        else:
            doc = field_docs(cls).get(f.name, "")
            assert doc, f"{cls.__name__}.{f.name} has no docstring"
            yield f"--{prefix}{f.name}", doc.splitlines()[0]


def _flat(text: str) -> str:
    """Help text with tyro's box drawing removed and line wrapping undone."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize(("prog", "command", "module"), COMMANDS, ids=IDS)
def test_help_shows_every_field_with_its_docstring(prog, command, module, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")  # one column of help: a docstring is not interleaved
    main, commands = _cli(module)
    assert main([command, "--help"]) == 0
    out = _flat(capsys.readouterr().out)
    fields = list(_fields(commands[command].config))
    # Tables holding another config (lm-pipeline's sections): their fields are listed too.
    sections = commands[command].sections() if commands[command].sections else {}
    for table, cls in sections.items():
        fields += list(_fields(cls, f"{table}."))
    for flag, doc in fields:
        assert f"{flag} " in out, f"{prog} {command} --help lacks {flag}"
        assert _flat(doc) in out, f"{prog} {command} --help lacks the docstring of {flag}: {doc}"


@pytest.mark.parametrize(("prog", "command", "module"), COMMANDS, ids=IDS)
def test_a_malformed_override_is_the_same_one_line_error(prog, command, module, capsys):
    main, _ = _cli(module)
    assert main([command, "--no.such.field", "1"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert re.match(r"^lm-[a-z]+ [a-z]+: error: .*no\.such\.field", err), err
    assert err.startswith(f"{prog} {command}: error: --no.such.field: ")


@pytest.mark.parametrize("module", sorted({m for _, _, m in COMMANDS}))
def test_prog_help_lists_every_command(module, capsys):
    main, commands = _cli(module)
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "COMMAND [CONFIG.toml] [--section.field VALUE ...]" in out
    assert all(name in out for name in commands)
