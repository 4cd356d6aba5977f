"""Every project command the READMEs show exists, in the CLI shape, with the flags it names.

The shell lines of the READMEs' code blocks (root, packages/*, apps/*, docs/*.md) that run a
project command (`lm-tok ...`, `uv run lm-pipeline ...`, `torchrun ... -m lm_dist train ...`)
are run in-process with `--help` appended and the config file left out: the command must
print its help and exit 0, every `--section.field` flag the README passes must be a field the
help lists, and the flags must parse as lm-core overrides. The shape is the one of
docs/architecture.md: `lm-X COMMAND [CONFIG.toml] [--section.field VALUE ...]`.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import re
import runpy
import shlex
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = sorted(
    [ROOT / "README.md", *ROOT.glob("packages/*/README.md"), *ROOT.glob("apps/*/README.md"),
     *ROOT.glob("docs/*.md")]
)
SHELL_FENCES = {"bash", "sh", "shell", "console", "zsh"}
CONFIG_SUFFIXES = (".toml", ".yaml", ".yml")
HELP = ("-h", "--help")
# Shell operators that end the command a README line runs (a redirection, a pipe, a chain).
OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", "&"}
# `uv run` options that take a value: what follows them is not the command.
UV_RUN_VALUE_OPTIONS = {"--package", "--with", "--extra", "--group", "--directory", "--project",
                        "--python", "--env-file", "--index"}


def _scripts() -> dict[str, str]:
    """Console script → `module:function`, from every member's [project.scripts]."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
    found: dict[str, str] = {}
    for pattern in globs["members"]:
        for pyproject in sorted(ROOT.glob(f"{pattern}/pyproject.toml")):
            found.update(tomllib.loads(pyproject.read_text())["project"].get("scripts", {}))
    return found


SCRIPTS = _scripts()
MODULES = {target.split(":")[0].split(".")[0] for target in SCRIPTS.values()}


@dataclass(frozen=True)
class Invocation:
    """One project command a README shows: how to start it and the arguments it gets."""

    readme: Path
    line: int
    text: str
    entry: str
    """A console script (`lm-tok`) or `-m MODULE` (`-m lm_dist`)."""
    args: tuple[str, ...]

    @property
    def id(self) -> str:
        command = re.sub(r"\s+#\s.*$", "", self.text)  # without the README's trailing comment
        return f"{self.readme.relative_to(ROOT)}:{self.line}: {command}"


def shell_lines(markdown: str) -> list[tuple[int, str]]:
    """(first line number, logical line) of every shell code block, continuations joined."""
    lines: list[tuple[int, str]] = []
    fence: str | None = None
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(markdown.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip().lower() or "text"
            continue
        if fence not in SHELL_FENCES:
            continue
        text = stripped.removeprefix("$ ")
        if pending is not None:
            number, text = pending[0], f"{pending[1]} {text}"
            pending = None
        if text.endswith("\\"):
            pending = (number, text[:-1].rstrip())
        elif text:
            lines.append((number, text))
    return lines


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError:  # an unbalanced quote: not a command we can read
        return []


def _after_uv_run(words: list[str]) -> list[str]:
    """The command `uv run [OPTIONS] COMMAND ...` runs: COMMAND and its arguments."""
    i = 2
    while i < len(words) and words[i].startswith("-"):
        i += 2 if words[i] in UV_RUN_VALUE_OPTIONS else 1
    return words[i:]


def find_invocation(words: list[str]) -> tuple[str, list[str]] | None:
    """(entry, arguments) of the project command a shell line runs, or None."""
    for i, word in enumerate(words):
        if word in OPERATORS:
            words = words[:i]
            break
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        words = words[1:]  # `WANDB_MODE=offline lm-dist ...`
    if words[:2] == ["uv", "run"]:
        words = _after_uv_run(words)
    if words and words[0] in SCRIPTS:
        return words[0], words[1:]
    for i, word in enumerate(words[:-1]):
        if word == "-m" and words[i + 1].split(".")[0] in MODULES:
            return f"-m {words[i + 1]}", words[i + 2:]
    for word in words:  # `bash -c '...'`, `srun ... bash -c '...'`: the quoted command
        if " " in word:
            found = find_invocation(_words(word))
            if found is not None:
                return found
    return None


def readme_invocations(readme: Path) -> list[Invocation]:
    found = []
    for line, text in shell_lines(readme.read_text(encoding="utf-8")):
        invocation = find_invocation(_words(text))
        if invocation is not None:
            entry, args = invocation
            found.append(Invocation(readme, line, text, entry, tuple(args)))
    return found


INVOCATIONS = [inv for readme in READMES for inv in readme_invocations(readme)]


def split_args(args: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(positionals before the first flag, the flags and their values)."""
    for i, arg in enumerate(args):
        if arg.startswith("-"):
            return list(args[:i]), list(args[i:])
    return list(args), []


def flag_names(flags: list[str]) -> list[str]:
    """`--train.learning-rate 1e-4`, `--beta=0.2` → ["train.learning_rate", "beta"]."""
    return [f[2:].split("=")[0].replace("-", "_") for f in flags
            if f.startswith("--") and len(f) > 2 and f not in HELP]


def run_help(entry: str, argv: list[str]) -> tuple[int, str]:
    """Run a command in this process as its console script or `python -m` would; (exit, output)."""
    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved_argv = sys.argv
    code: object = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            if entry.startswith("-m "):
                module = entry[3:]
                sys.argv = [module, *argv]
                try:
                    runpy.run_module(module, run_name="__main__", alter_sys=True)
                except SystemExit as e:
                    code = e.code
            else:
                module, function = SCRIPTS[entry].split(":")
                sys.argv = [entry, *argv]
                try:
                    code = getattr(importlib.import_module(module), function)()
                except SystemExit as e:
                    code = e.code
    finally:
        sys.argv = saved_argv
        root.handlers[:], root.level = handlers, level  # the CLI configures logging
    if code is None:
        code = 0
    return (code if isinstance(code, int) else 1), out.getvalue()


def _normalise(text: str) -> str:
    return text.replace("-", "_")


def listed(name: str, help_text: str) -> bool:
    """`--a.b.c` is a field the help lists, or a key under a listed mapping field (`--files`,
    `--model.overrides`): some prefix of it is a whole flag, not a section (`--a.` ...)."""
    parts = name.split(".")
    prefixes = [".".join(parts[:i]) for i in range(len(parts), 0, -1)]
    return any(re.search(rf"__{re.escape(p)}(?![\w.])", help_text) for p in prefixes)


def _check_overrides(inv: Invocation, flags: list[str]) -> None:
    """The flags parse as lm-core overrides (`--a.b VALUE`, `--a.b=VALUE`), once lm-core exists."""
    try:
        from lm_core.config import parse_overrides
    except ImportError:
        return
    try:
        parse_overrides(flags)
    except ValueError as e:
        raise AssertionError(f"{inv.id}: the flags do not parse: {e}") from e


def check_invocation(inv: Invocation) -> None:
    """Fails unless the command has the CLI shape, parses, and --help lists its flags."""
    positionals, flags = split_args(inv.args)
    flags = [f for f in flags if f not in HELP]
    if positionals and positionals[0].endswith(CONFIG_SUFFIXES):
        positionals = ["", *positionals]  # a default command's config: `lm-pipeline run.toml`
    # `lm-X COMMAND [CONFIG]`: past the command, one config (a file, or a shipped config's name).
    assert len(positionals) <= 2, (
        f"{inv.id}: {' '.join(positionals[1:])!r} is not one `[CONFIG.toml]`: the CLI shape is "
        "`lm-X COMMAND [CONFIG.toml] [--section.field VALUE ...]`")
    _check_overrides(inv, flags)
    # The config is dropped: `run.toml` stands for the reader's file, and a shipped one names
    # data and model directories that need not exist here.
    # The flags stay: with no COMMAND they pick the default one (`lm-pipeline --preset micro`).
    argv = [*(p for p in positionals[:1] if p), *flags, "--help"]
    code, output = run_help(inv.entry, argv)
    assert code == 0 and output.strip(), (
        f"{inv.id}: `{inv.entry} {' '.join(argv)}` exited {code}:\n{output[-2000:]}")
    shown = _normalise(output)
    missing = [name for name in flag_names(flags) if not listed(name, shown)]
    assert not missing, f"{inv.id}: --help lists no {', '.join(missing)}:\n{output[-2000:]}"


@pytest.mark.parametrize("inv", INVOCATIONS, ids=lambda inv: inv.id)
def test_readme_command_exists(inv: Invocation, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    check_invocation(inv)


@pytest.mark.parametrize(("args", "complaint"), [
    (("train", "run.toml", "--train.no_such_field", "1"), "lists no train.no_such_field"),
    (("export", "runs/tiny", "OUT_HF"), "is not one `[CONFIG.toml]`"),
    (("no-such-command", "--help"), "exited 2"),
])
def test_a_wrong_readme_command_fails(args: tuple[str, ...], complaint: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    inv = Invocation(ROOT / "README.md", 1, "lm-dist " + " ".join(args), "lm-dist", args)
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        check_invocation(inv)


def test_readmes_show_project_commands() -> None:
    """The extraction finds the commands (an empty list would pass every test above)."""
    entries = {inv.entry.split()[-1].split(".")[0].replace("_", "-") for inv in INVOCATIONS}
    assert {"lm-tok", "lm-dist", "lm-align", "lm-evaluate", "lm-chat", "lm-pipeline"} <= entries


SAMPLE = """\
Text `lm-tok train` in prose is not a command.

```bash
uv run lm-pipeline --preset micro     # comment
WANDB_MODE=offline lm-dist train run.toml \\
    --train.steps 10
torchrun --standalone --nproc-per-node 8 -m lm_dist train run.toml --parallel.tp 2
lm-pretrain --show 8b > my-8b.toml
srun --nodes 4 bash -c 'torchrun --nnodes $N -m lm_pretrain small --data.path /d'
uv run --package lm-align --exact pytest packages/lm-align
pip install lm-tok
```

```
lm-chat with hf (a transcript, not a command)
```
"""


def test_extraction_of_shell_commands(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(SAMPLE)
    got = [(inv.line, inv.entry, inv.args) for inv in readme_invocations(readme)]
    assert got == [
        (4, "lm-pipeline", ("--preset", "micro")),
        (5, "lm-dist", ("train", "run.toml", "--train.steps", "10")),
        (7, "-m lm_dist", ("train", "run.toml", "--parallel.tp", "2")),
        (8, "lm-pretrain", ("--show", "8b")),
        (9, "-m lm_pretrain", ("small", "--data.path", "/d")),
    ]
    assert flag_names(["--train.learning-rate", "1e-4", "--beta=0.2"]) == [
        "train.learning_rate", "beta"]


def test_listed_flags() -> None:
    shown = _normalise("--train.steps INT  steps\n--files [STR PATH ...]  per-file overrides")
    assert listed("train.steps", shown) and listed("files.piqa", shown)
    assert not listed("train.no_such_field", shown) and not listed("train", shown)
