from __future__ import annotations

from pathlib import Path

import pytest

from lm_data.cli import load_config, main
from lm_data.config import DedupConfig, ExecutorConfig, InputConfig, LanguageConfig


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


def test_toml_and_yaml_with_overrides(tmp_path):
    (tmp_path / "a.warc.gz").write_bytes(b"")
    toml = tmp_path / "c.toml"
    toml.write_text(f'[input]\npaths = ["{tmp_path / "a.warc.gz"}"]\n[language]\nlanguages = ["en", "de"]\n')
    cfg = load_config(toml, ["executor.workers=3", "output.dir=/tmp/x"])
    assert cfg.language.languages == ["en", "de"] and cfg.executor.workers == 3 and cfg.output.dir == "/tmp/x"
    yaml = tmp_path / "c.yaml"
    yaml.write_text(f"input:\n  paths: ['{tmp_path / 'a.warc.gz'}']\ndedup:\n  minhash: false\n")
    assert load_config(yaml).dedup.minhash is False


def test_bad_config_fails_before_any_work(tmp_path, capsys):
    (tmp_path / "a.warc.gz").write_bytes(b"")
    cfg = tmp_path / "c.toml"
    out = tmp_path / "run"
    cfg.write_text(f'[input]\npaths = ["{tmp_path / "a.warc.gz"}"]\n[output]\ndir = "{out}"\n[quality]\ngopher = true\n')
    assert main(["run", str(cfg)]) == 2
    assert "quality.gopher" in capsys.readouterr().err
    assert not out.exists()
    cfg.write_text(f'[input]\npaths = ["{tmp_path / "a.warc.gz"}"]\n[output]\ndir = "{out}"\n')
    assert main(["run", str(cfg), "--set", "quality.gopher_quality=true", "--workers", "0"]) == 2
    assert "executor.workers" in capsys.readouterr().err


def test_examples_are_valid_configs(tmp_path):
    examples = Path(__file__).parents[1] / "examples"
    files = sorted(examples.glob("*.toml")) + sorted(examples.glob("*.yaml"))
    kinds = set()
    for f in files:
        cfg = load_config(f, [f'input.paths=["{tmp_path}"]', 'decontam.eval_files=[]'])
        kinds.add(cfg.executor.kind)
    assert kinds == {"local", "slurm", "ray"}


def test_report_on_a_folder_that_is_not_a_run_is_a_one_line_error(tmp_path, capsys):
    missing = tmp_path / "missing"
    assert main(["report", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"lm-data: {missing}: no such folder"
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path}: no logs/ folder" in err
    (tmp_path / "logs" / "0_filter").mkdir(parents=True)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "logs" / "0_filter" / "stats.json") in err
    (tmp_path / "logs" / "0_filter" / "stats.json").write_text("{not json")
    assert main(["report", str(tmp_path)]) == 2
    assert "stats.json: not a datatrove stats file" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()
