import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lm_dist import TrainConfig
from lm_pretrain.cli import main, resolve, shipped_configs

WORLD = {"small": 8, "1b": 8, "8b": 32}
"""The GPUs each shipped config is laid out for (its README's table)."""


@pytest.mark.wheel
@pytest.mark.parametrize("name", sorted(WORLD))
def test_shipped_configs_are_valid_3d_layouts(name):
    cfg = TrainConfig.from_toml(resolve(name))
    model = cfg.model.build()
    par = cfg.parallel.resolved(WORLD[name])
    assert par.pp * par.dp_replicate * par.dp_shard * par.tp == WORLD[name]
    for size in (model.n_heads, model.n_kv_heads, model.hidden_dim, model.vocab_size):
        assert size % par.tp == 0
    assert cfg.data.seq_len <= model.max_seq_len
    assert cfg.train.dtype == "bfloat16"
    assert model.num_params() > {"small": 1e8, "1b": 1e9, "8b": 8e9}[name]


def test_8b_uses_all_three_dimensions():
    par = TrainConfig.from_toml(resolve("8b")).parallel.resolved(32)
    assert par.pp > 1 and par.tp > 1 and par.dp_shard > 1


def _write_shards(directory: Path, vocab: int, n_tokens: int) -> None:
    directory.mkdir(parents=True)
    rng = np.random.default_rng(0)
    tokens = rng.integers(3, vocab, n_tokens, dtype=np.uint16)
    tokens[::50] = 1  # eos between documents
    tokens.tofile(directory / "tokens_00000.ds")
    docs = int((tokens == 1).sum())
    (directory / "manifest.json").write_text(json.dumps({
        "format": "lm-tok-shards/1", "dtype": "uint16", "vocab_size": vocab, "bos_id": 0,
        "eos_id": 1, "pad_id": 2, "num_tokens": n_tokens, "num_documents": docs,
        "shards": [{"path": "tokens_00000.ds", "num_tokens": n_tokens, "num_documents": docs}],
        "tokenizer_sha256": "0" * 64, "sources": ["test"]}))


def test_runs_lm_dist_with_a_config_path_and_flag_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    _write_shards(tmp_path / "shards", vocab=512, n_tokens=20_000)
    config = tmp_path / "run.toml"
    config.write_text(f'run_dir = "{tmp_path / "run"}"\n[model]\npreset = "debug"\n'
                      f'[data]\npath = "{tmp_path / "shards"}"\nseq_len = 32\nbatch_size = 4\n'
                      f'[train]\nsteps = 50\n[schedule]\nwarmup_steps = 2\n'
                      f'[metrics]\nprogress = false\n')
    assert main(["train", str(config), "--train.steps", "6", "--metrics.log-interval", "2"]) == 0
    rows = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in rows if "loss" in r] == [2, 4, 6]  # the flag beat the file's 50
    assert any((tmp_path / "run" / "checkpoints").glob("step-*/COMMITTED"))


@pytest.mark.wheel
def test_list_show_and_unknown_names(capsys):
    assert set(shipped_configs()) == set(WORLD)
    assert main(["list"]) == 0
    assert "8b" in capsys.readouterr().out
    assert main(["show", "1b", "--parallel.tp", "4"]) == 0
    shown = capsys.readouterr().out
    assert 'preset = "1b"' in shown and "tp = 4" in shown
    assert main(["train", "huge"]) == 2
    assert capsys.readouterr().err == "lm-pretrain train: error: config file huge does not exist\n"


def test_sbatch_script_is_valid_bash():
    script = Path(__file__).parents[1] / "slurm" / "pretrain.sbatch"
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert "-m lm_pretrain" in script.read_text()


def test_sbatch_logs_go_where_slurm_can_write_them():
    """Slurm creates no folders: an --output/--error path into a missing one loses the log."""
    script = Path(__file__).parents[1] / "slurm" / "pretrain.sbatch"
    paths = [line.split("=", 1)[1].strip() for line in script.read_text().splitlines()
             if line.startswith(("#SBATCH --output=", "#SBATCH --error="))]
    assert paths, "the job's log should be named"
    for path in paths:
        assert "/" not in path, f"{path}: a folder Slurm would not create"


def test_config_of_the_wrong_type_is_a_one_line_error_naming_the_field(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(resolve("small").read_text().replace("compile = true", 'compile = "Flase"'))
    assert main(["train", str(cfg)]) == 2
    assert re.match(r"lm-pretrain train: error: .*run\.toml: train\.compile: Input should be a "
                    "valid boolean", capsys.readouterr().err)
