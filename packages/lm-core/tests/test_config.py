"""lm_core.config: strict loading, coercion, error messages, overrides, TOML round trips."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from lm_core import ConfigError
from lm_core.config import (
    from_dict,
    load,
    merge,
    parse_overrides,
    read_toml,
    to_dict,
    to_toml,
    write_resolved,
)


@dataclass(kw_only=True)
class Optim:
    """Optimiser."""

    lr: float = 3e-4
    """Peak learning rate."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas."""

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"lr: must be > 0, got {self.lr}")


@dataclass(kw_only=True)
class Run:
    """A run."""

    inputs: tuple[Path, ...]
    """Input files."""
    name: str = "run"
    """Run name."""
    compile: bool = False
    """torch.compile."""
    steps: int = 10
    """Optimizer steps."""
    langs: list[str] = field(default_factory=lambda: ["en"])
    """Languages kept."""
    kind: Literal["a", "b"] = "a"
    """The kind."""
    limit: int | None = None
    """A limit (None: none)."""
    extra: dict[str, int] = field(default_factory=dict)
    """Free keys."""
    optim: Optim = field(default_factory=Optim)
    """The optimiser."""


def test_from_dict_coerces_values_and_builds_nested_configs():
    cfg = from_dict(Run, {"inputs": ["a.jsonl"], "compile": "true", "steps": "7",
                          "optim": {"lr": "1e-3"}, "extra": {"k": 1}})
    assert cfg.inputs == (Path("a.jsonl"),) and cfg.compile is True and cfg.steps == 7
    assert cfg.optim.lr == 1e-3 and cfg.extra == {"k": 1}


def test_a_scalar_for_a_sequence_field_is_one_element():
    assert from_dict(Run, {"inputs": "a.jsonl", "langs": "fr"}).langs == ["fr"]


def test_a_number_typed_after_a_text_flag_is_that_text():
    assert load(Run, None, ["--inputs", "1e-4", "--name", "1e-4"]).name == "1e-4"
    with pytest.raises(ConfigError, match="name: Input should be a valid string"):
        from_dict(Run, {"inputs": [], "name": 8})  # a file says what it means


def test_unknown_keys_are_errors_at_any_depth():
    with pytest.raises(ConfigError) as e:
        from_dict(Run, {"inputs": [], "stepz": 1, "optim": {"llr": 1}})
    assert "stepz: unknown key (known: compile, extra" in str(e.value)
    assert "optim.llr: unknown key (known: betas, lr)" in str(e.value)


def test_type_errors_name_section_field_and_are_all_reported():
    with pytest.raises(ConfigError) as e:
        from_dict(Run, {"inputs": [], "steps": "x", "optim": {"lr": "fast"}}, where="run.toml")
    message = str(e.value)
    assert message.startswith("run.toml: steps: Input should be a valid integer")
    assert "; run.toml: optim.lr: Input should be a valid number" in message
    assert "(got 'fast')" in message


def test_post_init_errors_are_named_by_section_and_field():
    with pytest.raises(ConfigError, match=r"^optim\.lr: must be > 0, got -1\.0$"):
        from_dict(Run, {"inputs": [], "optim": {"lr": -1}})


def test_a_missing_required_field_is_named():
    with pytest.raises(ConfigError, match=r"^inputs: Field required$"):
        from_dict(Run, {})


def test_a_section_that_is_not_a_table_is_named():
    with pytest.raises(ConfigError, match=r"^optim: Input should be a dictionary or an instance of Optim \(got 3\)$"):
        from_dict(Run, {"inputs": [], "optim": 3})


def test_to_dict_is_tomlable_and_round_trips(tmp_path):
    cfg = from_dict(Run, {"inputs": ["a", "b"], "extra": {"k": 2}, "optim": {"lr": 0.5}})
    d = to_dict(cfg)
    assert d["inputs"] == ["a", "b"] and d["optim"]["betas"] == [0.9, 0.95]
    assert "limit" not in d  # None means "the default"
    text = to_toml(cfg)
    assert tomllib.loads(text) == d
    assert from_dict(Run, tomllib.loads(text)) == cfg
    out = write_resolved(cfg, tmp_path / "run", "config.toml")
    assert out == tmp_path / "run" / "config.toml" and from_dict(Run, read_toml(out)) == cfg


def test_to_toml_quotes_keys_and_escapes_strings():
    text = to_toml({"a": {"odd key": 'say "hi"\n', "x": float("inf")}, "b": [{"c": 1}]})
    assert tomllib.loads(text) == {"a": {"odd key": 'say "hi"\n', "x": float("inf")},
                                   "b": [{"c": 1}]}


def test_read_toml_names_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = 1\nname = \n")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML: .*\(at line 2, column 8\)"):
        read_toml(bad)
    with pytest.raises(FileNotFoundError, match=r"config file .*nope\.toml does not exist"):
        read_toml(tmp_path / "nope.toml")


def test_merge_is_deep_and_leaves_inputs_alone():
    base = {"optim": {"lr": 1, "betas": [0.9]}, "steps": 1}
    over = {"optim": {"lr": 2}, "name": "x"}
    assert merge(base, over) == {"optim": {"lr": 2, "betas": [0.9]}, "steps": 1, "name": "x"}
    assert base == {"optim": {"lr": 1, "betas": [0.9]}, "steps": 1} and over["optim"] == {"lr": 2}


@pytest.mark.parametrize(("args", "expected"), [
    (["--optim.lr", "1e-4"], {"optim": {"lr": 1e-4}}),
    (["--optim.lr=1e-4"], {"optim": {"lr": 1e-4}}),
    (["--compile", "true"], {"compile": True}),
    (["--langs", '["en", "fr"]'], {"langs": ["en", "fr"]}),
    (["--langs", "en", "fr"], {"langs": ["en", "fr"]}),
    (["--name", '"8"'], {"name": "8"}),
    (["--name", "out/run"], {"name": "out/run"}),
    (["--name", "2024-01-01"], {"name": "2024-01-01"}),
    (["--steps", "-3"], {"steps": -3}),
    (["--max-bytes", "5", "--a.b-c", "x"], {"max_bytes": 5, "a": {"b_c": "x"}}),
])
def test_parse_overrides(args, expected):
    assert parse_overrides(args) == expected


@pytest.mark.parametrize(("args", "message"), [
    (["optim.lr", "1"], r"^optim\.lr: expected an override --section\.field VALUE$"),
    (["--optim.lr"], r"^--optim\.lr: no value given"),
    (["--optim..lr", "1"], r"^--optim\.\.lr: not a field name"),
    (["--a", "1", "--a.b", "2"], r"^--a\.b: a was given a value by an earlier flag"),
])
def test_malformed_overrides_are_named(args, message):
    with pytest.raises(ConfigError, match=message):
        parse_overrides(args)


def test_load_layers_base_file_and_flags(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('inputs = ["a"]\nsteps = 5\n[optim]\nlr = 0.1\n')
    cfg = load(Run, path, ["--optim.lr", "0.2", "--kind", "b"], base={"name": "p", "steps": 1})
    assert (cfg.name, cfg.steps, cfg.optim.lr, cfg.kind) == ("p", 5, 0.2, "b")


def test_load_names_the_flag_or_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('inputs = ["a"]\nsteps = "many"\n')
    with pytest.raises(ConfigError) as e:
        load(Run, path, ["--optim.lr", "-1", "--no.such.field", "1"])
    parts = str(e.value).split("; ")
    assert parts[0].startswith("--no.such.field: no: unknown key (known: ")
    with pytest.raises(ConfigError) as e:
        load(Run, path, ["--optim.lr", "-1"])
    parts = str(e.value).split("; ")
    assert parts == [f"{path}: steps: Input should be a valid integer, unable to parse string "
                     "as an integer (got 'many')", "--optim.lr: optim.lr: must be > 0, got -1.0"]


@dataclass(kw_only=True)
class NeedsFile:
    """A config whose check looks at the disk."""

    path: Path
    """A file that must exist."""

    def __post_init__(self) -> None:
        if not Path(self.path).is_file():
            raise FileNotFoundError(f"path: {self.path} not found")


def test_a_missing_file_found_by_a_check_names_the_config(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(f'path = "{tmp_path / "nope"}"\n')
    with pytest.raises(FileNotFoundError, match=rf"^{config}: path: .*nope not found$"):
        load(NeedsFile, config)
    with pytest.raises(FileNotFoundError, match=r"^path: .*nope not found$"):
        from_dict(NeedsFile, {"path": tmp_path / "nope"})


@dataclass(kw_only=True)
class Checked:
    """A config whose own check refuses a nested field."""

    optim: Optim = field(default_factory=Optim)
    """The optimiser."""

    def __post_init__(self) -> None:
        if self.optim.lr > 1:
            raise ValueError(f"optim.lr: too large for this run, got {self.optim.lr}")


def test_a_whole_config_check_is_blamed_on_the_flag_that_set_its_field(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[optim]\nlr = 0.5\n")
    with pytest.raises(ConfigError, match=r"^--optim\.lr: optim\.lr: too large"):
        load(Checked, path, ["--optim.lr", "2"])
    path.write_text("[optim]\nlr = 5\n")
    with pytest.raises(ConfigError, match=rf"^{path}: optim\.lr: too large"):
        load(Checked, path)
