"""`launch(cfg, nproc)` trains like `train(cfg)`; `read_metrics` reads what the run logged."""

import json

import pytest
from lm_dist_testdata import make_cfg

import lm_dist
from lm_dist import LaunchError, launch, read_metrics
from lm_dist.trainer import train

STEPS = 3


def _cfg(run_dir, shard_dir, val_dir, dp: int = 1):
    # log_interval 1: every step's loss is in metrics.jsonl, to compare with train()'s.
    # The global batch (8) is the same on any number of data-parallel ranks.
    return make_cfg(run_dir, shard_dir, steps=STEPS, batch_size=8 // dp,
                    data={"val_path": str(val_dir)}, parallel={"dp_shard": dp},
                    metrics={"log_interval": 1, "val_batches": 2})


@pytest.fixture(scope="module")
def reference(shard_dir, val_dir, tmp_path_factory):
    return train(_cfg(tmp_path_factory.mktemp("reference"), shard_dir, val_dir))


def test_renamed_modules():
    """Each name means one thing: pipeline parallelism is `pipeline_parallel`, the trainer's
    held-out loss `validation_loss` (lm-evaluate owns `evaluate`)."""
    from lm_dist.pipeline_parallel import build_schedule  # noqa: F401

    assert lm_dist.validation_loss.__module__ == "lm_dist.trainer"
    assert not hasattr(lm_dist.trainer, "evaluate")


def test_launch_one_process_is_train(shard_dir, val_dir, tmp_path, reference):
    metrics = launch(_cfg(tmp_path / "run", shard_dir, val_dir), 1)
    assert {r["step"]: r["loss"] for r in metrics.train} == reference.losses
    assert {r["step"]: r["val_loss"] for r in metrics.val} == reference.val_losses
    assert metrics.final["step"] == STEPS and metrics.final["loss"] == reference.losses[STEPS]
    assert not (tmp_path / "run" / "launch.log").exists()


@pytest.mark.slow
def test_launch_two_processes_under_torchrun(shard_dir, val_dir, tmp_path, reference, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cfg = _cfg(tmp_path / "run", shard_dir, val_dir, dp=2)
    metrics = launch(cfg, 2, echo=False)
    losses = {r["step"]: r["loss"] for r in metrics.train}
    assert losses == pytest.approx(reference.losses, abs=1e-10)
    val = {r["step"]: r["val_loss"] for r in metrics.val}
    assert val == pytest.approx(reference.val_losses, abs=1e-10)
    log = (tmp_path / "run" / "launch.log").read_text()
    assert "finished at step 3" in log
    assert "dp_shard = 2" in (tmp_path / "run" / "config.toml").read_text()


@pytest.mark.slow
def test_failed_launch_raises_with_the_log_tail(tmp_path, shard_dir):
    # A shard directory that vanished after the config was written: every rank fails.
    cfg = make_cfg(tmp_path / "run", tmp_path / "no-such-shards", steps=1)
    with pytest.raises(LaunchError) as e:
        launch(cfg, 2, log=tmp_path / "train.log", echo=False)
    message = str(e.value)
    assert "torchrun exit code 1" in message and str(tmp_path / "train.log") in message
    # The ranks' error (lm-core's one-line CLI error), named before the log's tail.
    errors = message.split("last lines of")[0]
    assert "lm-dist train: error: " in errors
    assert "no-such-shards/manifest.json not found" in errors
    assert "no-such-shards" in (tmp_path / "train.log").read_text()


def test_the_ranks_errors_are_picked_from_the_log():
    from lm_dist.launcher import _note_error

    errors: dict[str, str] = {}
    for line in ["[rank1]: Traceback (most recent call last):\n", "[rank1]:   File \"x.py\"\n",
                 "[rank1]: RuntimeError: boom\n", "lm-dist train: error: bad.toml: not found\n",
                 "2026 [rank0] INFO lm_dist.mesh: rank 0/2 joined with gloo\n"]:
        _note_error(line, errors)
    assert errors == {"rank 1: ": "RuntimeError: boom",
                      "": "lm-dist train: error: bad.toml: not found"}


def test_launch_rejects_a_bad_nproc(tmp_path, shard_dir):
    with pytest.raises(ValueError, match="nproc must be a positive integer, got 0"):
        launch(make_cfg(tmp_path / "run", shard_dir), 0)


def test_read_metrics_of_a_run(shard_dir, val_dir, tmp_path, reference):
    """A real run dir, resumed once (steps re-logged), with a half-written last line."""
    run_dir = tmp_path / "run"
    cfg = _cfg(run_dir, shard_dir, val_dir)
    train(cfg)
    path = run_dir / "metrics.jsonl"
    rows = path.read_text()
    # As if the run was resumed from step 1: steps 2 and 3 logged again, then killed mid-line.
    again = [line for line in rows.splitlines() if json.loads(line)["step"] > 1]
    path.write_text(rows + "\n".join(again) + '\n{"step": 4, "lo')
    metrics = read_metrics(run_dir)
    assert [r["step"] for r in metrics.train] == [1, 2, 3]
    assert [r["step"] for r in metrics.val] == [3]
    assert [n for n, _ in metrics.skipped] == [len(rows.splitlines()) + len(again) + 1]
    assert "invalid JSON" in metrics.skipped[0][1]
    final = metrics.final
    assert final["loss"] == reference.losses[STEPS]
    assert final["val_loss"] == reference.val_losses[STEPS]
    assert final["median_tokens_per_s"] > 0 and final["median_mfu"] > 0
    assert "val_bits_per_byte" not in final  # the synthetic shards record no bytes


def test_read_metrics_bits_per_byte_from_the_val_manifest(shard_dir, val_dir, tmp_path):
    val = tmp_path / "val"
    val.mkdir()
    for f in val_dir.iterdir():
        (val / f.name).write_bytes(f.read_bytes())
    manifest = json.loads((val / "manifest.json").read_text())
    manifest["num_bytes"] = manifest["num_tokens"] * 4
    (val / "manifest.json").write_text(json.dumps(manifest))
    run_dir = tmp_path / "run"
    train(_cfg(run_dir, shard_dir, val))
    final = read_metrics(run_dir).final
    assert final["val_bits_per_byte"] == pytest.approx(final["val_loss"] / 4 / 0.6931471805599453)


def test_read_metrics_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metrics\.jsonl not found"):
        read_metrics(tmp_path)
