from __future__ import annotations

from pathlib import Path

import pytest

from lm_core.config import load
from lm_data.cli import main
from lm_data.config import (
    ConfigError,
    CurationConfig,
    DedupConfig,
    ExecutorConfig,
    InputConfig,
    LanguageConfig,
)


@pytest.mark.wheel
def test_bad_fields_name_themselves(tmp_path):
    with pytest.raises(ValueError, match=r"input.paths"):
        InputConfig(paths=[str(tmp_path / "missing.warc.gz")])
    with pytest.raises(ValueError, match=r"language.threshold"):
        LanguageConfig(threshold=1.5)
    with pytest.raises(ValueError, match=r"dedup.num_buckets"):
        DedupConfig(num_buckets=0)
    with pytest.raises(ValueError, match=r"executor.slurm.partition"):
        ExecutorConfig(kind="slurm")
    with pytest.raises(ValueError, match=r"dedup.sentence_span"):
        DedupConfig(sentence=True, sentence_span=0)
    with pytest.raises(ValueError, match=r"dedup.sentence_min_words"):
        DedupConfig(sentence_min_words=-1)
    assert DedupConfig().sentence is False  # opt-in, as in FineWeb


def load_config(path, overrides=()):
    return load(CurationConfig, path, overrides)


def test_toml_with_overrides(tmp_path):
    (tmp_path / "a.warc.gz").write_bytes(b"")
    toml = tmp_path / "c.toml"
    toml.write_text(
        f'[input]\npaths = ["{tmp_path / "a.warc.gz"}"]\n[language]\nlanguages = ["en", "de"]\n'
    )
    cfg = load_config(toml, ["--executor.workers", "3", "--output.dir", "/tmp/x", "--dedup.minhash",
                             "false"])
    assert (
        cfg.language.languages == ["en", "de"]
        and cfg.executor.workers == 3
        and cfg.output.dir == "/tmp/x"
    )
    assert cfg.dedup.minhash is False
    cfg = load_config(toml, ["--language.languages", "fr", "it"])
    assert cfg.language.languages == ["fr", "it"]


def test_bad_config_fails_before_any_work(tmp_path, capsys):
    (tmp_path / "a.warc.gz").write_bytes(b"")
    cfg = tmp_path / "c.toml"
    out = tmp_path / "run"
    cfg.write_text(
        f'[input]\npaths = ["{tmp_path / "a.warc.gz"}"]\n'
        f'[output]\ndir = "{out}"\n[quality]\ngopher = true\n'
    )
    assert main(["run", str(cfg)]) == 2
    assert "quality.gopher" in capsys.readouterr().err
    assert not out.exists()
    cfg.write_text(f'[input]\npaths = ["{tmp_path / "a.warc.gz"}"]\n[output]\ndir = "{out}"\n')
    args = ["--quality.gopher_quality", "true", "--executor.workers", "0"]
    assert main(["run", str(cfg), *args]) == 2
    assert "executor.workers" in capsys.readouterr().err


def test_examples_are_valid_configs(tmp_path):
    examples = Path(__file__).parents[1] / "examples"
    kinds = set()
    for f in sorted(examples.glob("*.toml")):
        cfg = load_config(f, ["--input.paths", str(tmp_path), "--decontam.eval_files", "[]"])
        kinds.add(cfg.executor.kind)
    assert kinds == {"local", "slurm", "ray"}


def _warc_config(tmp_path: Path, body: str = "", suffix: str = ".toml") -> Path:
    (tmp_path / "a.warc.gz").write_bytes(b"")
    cfg = tmp_path / f"c{suffix}"
    cfg.write_text(f'[input]\npaths = ["{tmp_path / "a.warc.gz"}"]\n{body}')
    return cfg


def test_set_strings_are_coerced_to_the_field_type(tmp_path):
    cfg = load_config(_warc_config(tmp_path), ["--dedup.minhash", "False", "--dedup.n_grams", "3",
                                                "--extract.timeout", "2"])
    assert cfg.dedup.minhash is False and cfg.dedup.n_grams == 3 and cfg.extract.timeout == 2.0


@pytest.mark.parametrize("override, field", [
    ("--dedup.minhash=Flase", "dedup.minhash"),
    ("--dedup.n_grams=2.5", "dedup.n_grams"),
    ("--dedup.n_grams=abc", "dedup.n_grams"),
    ("--language.languages={a = 1}", "language.languages"),
    ("--input.format=xml", "input.format"),
])
def test_wrong_types_name_the_flag_and_field(tmp_path, capsys, override, field):
    path = _warc_config(tmp_path)
    flag = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"^{flag}: {field}: "):
        load_config(path, [override])
    assert main(["run", str(path), override]) == 2
    assert capsys.readouterr().err.startswith(f"lm-data run: error: {flag}: {field}: ")


def test_wrong_type_in_the_file_and_unknown_key(tmp_path):
    path = _warc_config(tmp_path, '[dedup]\nn_grams = "five"\n')
    with pytest.raises(ConfigError, match=r"c\.toml: dedup\.n_grams: .*'five'"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"dedup\.minhsh: unknown key"):
        load_config(_warc_config(tmp_path), ["--dedup.minhsh", "false"])


@pytest.mark.parametrize("suffix, text, where", [
    (".toml", "[input\npaths = 1\n", r"c\.toml: invalid TOML: .*line 1"),
    (".toml", "[input]\npaths = [1,\nx = 2\n", r"c\.toml: invalid TOML: .*line 3"),
])
def test_syntax_errors_are_one_line_naming_file_and_line(tmp_path, capsys, suffix, text, where):
    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    with pytest.raises(ConfigError, match=where):
        load_config(path)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_report_on_a_folder_that_is_not_a_run_is_a_one_line_error(tmp_path, capsys):
    missing = tmp_path / "missing"
    assert main(["report", "--dir", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"lm-data report: error: {missing}: no such folder"
    assert main(["report", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path}: no logs/ folder" in err
    (tmp_path / "logs" / "0_filter").mkdir(parents=True)
    assert main(["report", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "logs" / "0_filter" / "stats.json") in err
    (tmp_path / "logs" / "0_filter" / "stats.json").write_text("{not json")
    assert main(["report", "--dir", str(tmp_path)]) == 2
    assert "stats.json: not a datatrove stats file" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()
