"""lm_core.cli: the command shape, --help from the dataclass, one-line errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest

from lm_core import InputError
from lm_core.cli import Command, main


@dataclass(kw_only=True)
class Section:
    """A section."""

    depth: int = 2
    """How deep to go, in levels."""


@dataclass(kw_only=True)
class Job:
    """A job."""

    name: str
    """The job's name, used in the output folder."""
    retries: int = 1
    """Times a failed step is retried."""
    section: Section = field(default_factory=Section)
    """A nested section."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form keys passed on as they are."""


def _commands(seen: list) -> dict[str, Command]:
    def fail(cfg: Job) -> int:
        raise InputError("data.jsonl:3: invalid JSON\nsecond line")

    return {
        "go": Command(Job, lambda cfg: seen.append(cfg), "run the job"),
        "fail": Command(Job, fail, "always fails"),
        "preset": Command(Job, lambda cfg: seen.append(cfg), "with a base",
                          base=lambda: {"name": "base", "retries": 5}),
    }


def test_runs_the_command_with_file_and_flags(tmp_path):
    path = tmp_path / "job.toml"
    path.write_text('name = "x"\n[section]\ndepth = 3\n')
    seen: list[Job] = []
    assert main("lm-x", _commands(seen), ["go", str(path), "--retries", "4"]) == 0
    assert seen == [Job(name="x", retries=4, section=Section(depth=3))]


def test_a_table_is_set_inline_or_key_by_key():
    seen: list[Job] = []
    commands = _commands(seen)
    assert main("lm-x", commands, ["go", "--name", "x", "--extra", "{a = 1, b = [2]}"]) == 0
    assert main("lm-x", commands, ["go", "--name", "x", "--extra.a", "1", "--extra.b", "[2]"]) == 0
    assert seen[0].extra == seen[1].extra == {"a": 1, "b": [2]}


def test_base_lies_under_the_flags():
    seen: list[Job] = []
    assert main("lm-x", _commands(seen), ["preset", "--section.depth", "9"]) == 0
    assert seen == [Job(name="base", retries=5, section=Section(depth=9))]


def test_default_command_runs_when_the_first_argument_is_not_a_command():
    seen: list[Job] = []
    assert main("lm-x", _commands(seen), ["--name", "d"], default="go") == 0
    assert seen[0].name == "d"


def test_help_lists_the_commands(capsys):
    assert main("lm-x", _commands([]), ["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: lm-x COMMAND [CONFIG.toml] [--section.field VALUE ...]" in out
    assert "go  " in out and "run the job" in out and "always fails" in out


def test_no_arguments_is_usage_and_exit_2(capsys):
    assert main("lm-x", _commands([]), []) == 2
    assert "usage: lm-x COMMAND" in capsys.readouterr().err


def test_command_help_shows_every_field_with_its_docstring_and_value(tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    path = tmp_path / "job.toml"
    path.write_text("name = \"n\"\nretries = 7\n")
    assert main("lm-x", _commands([]), ["go", str(path), "--help"]) == 0
    out = " ".join(capsys.readouterr().out.replace("│", " ").split())
    for flag, doc in [("--name", "The job's name, used in the output folder."),
                      ("--retries", "Times a failed step is retried."),
                      ("--section.depth", "How deep to go, in levels.")]:
        assert flag in out and doc in out
    assert "(default: 7)" in out  # the file's value, not the class default
    # tyro leaves free-form tables out of its help: lm-core lists them after it.
    assert "--extra TABLE (or --extra.KEY VALUE) Free-form keys passed on as they are." in out


@pytest.mark.parametrize("argv", [["go", "--no.such.field", "1"], ["go", "--retries"],
                                  ["go", "nope.toml"], ["fail", "--name", "x"]])
def test_bad_input_is_one_line_and_exit_2(argv, capsys):
    assert main("lm-x", _commands([]), argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"lm-x {argv[0]}: error: ")


def test_the_malformed_override_names_the_flag(capsys):
    main("lm-x", _commands([]), ["go", "--name", "x", "--no.such.field", "1"])
    assert capsys.readouterr().err == (
        "lm-x go: error: --no.such.field: no: unknown key (known: extra, name, retries, section)\n")


def test_unknown_command(capsys):
    assert main("lm-x", _commands([]), ["gone"]) == 2
    assert capsys.readouterr().err.startswith("lm-x: error: unknown command 'gone'")


def test_a_bug_keeps_its_traceback():
    def boom(cfg: Job) -> None:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        main("lm-x", {"go": Command(Job, boom, "h")}, ["go", "--name", "x"])


def test_extra_errors_are_one_line(capsys):
    def bad(cfg: Job) -> None:
        raise OSError("checkpoint unreadable")

    assert main("lm-x", {"go": Command(Job, bad, "h", errors=(OSError,))},
                ["go", "--name", "x"]) == 2
    assert capsys.readouterr().err == "lm-x go: error: checkpoint unreadable\n"


def test_logging_is_rank_aware(monkeypatch):
    from lm_core import cli

    seen = []
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: seen.append(kw["level"]))
    monkeypatch.setenv("RANK", "1")
    cli._configure_logging()
    monkeypatch.setenv("RANK", "0")
    cli._configure_logging()
    assert seen == [logging.WARNING, logging.INFO]


def test_help_lists_the_fields_of_a_config_a_table_holds(capsys):
    # lm-pipeline's [pretrain] table holds an lm-dist TrainConfig: its fields are listed under
    # the table's name, with the value the base (a preset) gives them.
    command = Command(Job, lambda cfg: None, "h",
                      base=lambda: {"name": "b", "extra": {"section": {"depth": 7}}},
                      sections=lambda: {"extra": Job})
    assert main("lm-x", {"go": command}, ["go", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "[extra] holds" in out
    assert "--extra.retries Times a failed step is retried. (default: 1)" in out
    assert "--extra.section.depth How deep to go, in levels. (default: 2, here: 7)" in out
