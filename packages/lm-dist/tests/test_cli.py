import json
import os
import shutil
import subprocess
import sys

import pytest

from lm_dist.cli import main


def _write_config(path, data, run_dir, **extra):
    path.write_text(f"""
run_dir = "{run_dir}"
[model]
preset = "debug"
[data]
path = "{data}"
seq_len = 32
batch_size = 4
[train]
steps = 2
device = "cpu"
[schedule]
warmup_steps = 1
[metrics]
wandb_mode = "disabled"
progress = false
peak_flops = 1e10
""" + "".join(f"{line}\n" for line in extra.get("lines", [])))
    return path


def test_train_command_with_overrides(shard_dir, tmp_path):
    config = _write_config(tmp_path / "run.toml", shard_dir, tmp_path / "run")
    assert main(["train", str(config), "--train.steps", "3", "--optim.lr", "1e-3"]) == 0
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["step"] == 3
    assert "lr = 0.001" in (tmp_path / "run" / "config.toml").read_text()
    assert main(["bogus"]) == 2


@pytest.mark.slow
def test_torchrun_launch_with_fsdp_and_compile(shard_dir, tmp_path):
    """The documented launch line, two gloo ranks, per-block torch.compile."""
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    config = _write_config(tmp_path / "run.toml", shard_dir, tmp_path / "run")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "-m", "lm_dist", "train",
                    str(config), "--train.compile", "true"], check=True, env=env, timeout=600)
    assert (tmp_path / "run" / "checkpoints" / "step-000002" / "COMMITTED").is_file()
    losses = [json.loads(line)["loss"] for line in
              (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 1 and 5.5 < losses[0] < 7.0
