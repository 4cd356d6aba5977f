"""Commit protocol, exact resume after SIGKILL, resume in another layout, keep-last-K."""

import json
import multiprocessing as mp
import os
import pickle
import shutil
import signal

import pytest
import torch
from lm_dist_ranks import run_on_ranks
from lm_dist_testdata import make_cfg

from lm_dist import checkpoint as ckpt
from lm_dist.checkpoint import (
    COMMITTED,
    SafeFileSystemReader,
    committed_checkpoints,
    latest_checkpoint,
    load_model,
    resolve_checkpoint,
)
from lm_dist.cli import main
from lm_dist.config import CheckpointConfig
from lm_dist.trainer import train
from lm_model import ModelConfig, Transformer


def _killed_run(cfg, kill_at_save: int) -> None:
    """Train, and SIGKILL this process while committing step `kill_at_save`: after the
    rename, before the COMMITTED marker is written."""
    torch.set_num_threads(1)  # the parent's intra-op thread pool does not survive fork
    write = ckpt._write_synced

    def dying_write(path, text):
        if path.parent.name == f"step-{kill_at_save:06d}":
            os.kill(os.getpid(), signal.SIGKILL)
        write(path, text)

    ckpt._write_synced = dying_write
    train(cfg)


def test_resume_after_sigkill_is_bitwise_identical(shard_dir, tmp_path):
    straight = train(make_cfg(tmp_path / "straight", shard_dir, steps=6))
    cfg = make_cfg(tmp_path / "killed", shard_dir, steps=6, checkpoint={"interval": 3})
    child = mp.get_context("fork").Process(target=_killed_run, args=(cfg, 6))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == -signal.SIGKILL
    checkpoints = tmp_path / "killed" / "checkpoints"
    # The save of step 6 was killed half-way: its folder exists, but is not a checkpoint.
    assert (checkpoints / "step-000006").is_dir()
    assert not (checkpoints / "step-000006" / COMMITTED).exists()
    assert latest_checkpoint(checkpoints) == checkpoints / "step-000003"
    resumed = train(cfg)
    assert resumed.start_step == 3
    assert sorted(resumed.losses) == [4, 5, 6]
    for step in (4, 5, 6):
        assert resumed.losses[step] == straight.losses[step]  # bitwise
        assert resumed.grad_norms[step] == straight.grad_norms[step]
    assert latest_checkpoint(checkpoints) == checkpoints / "step-000006"


def test_unfinished_saves_are_never_latest(tmp_path):
    root = tmp_path / "checkpoints"
    (root / "step-000001").mkdir(parents=True)
    (root / "step-000001" / COMMITTED).write_text("1\n")
    (root / "step-000002.tmp").mkdir()  # killed while DCP was writing
    (root / "step-000003").mkdir()  # killed between rename and marker
    assert committed_checkpoints(root) == [root / "step-000001"]
    assert resolve_checkpoint(tmp_path) == root / "step-000001"
    with pytest.raises(FileNotFoundError, match="no COMMITTED marker"):
        resolve_checkpoint(root / "step-000003")
    with pytest.raises(FileNotFoundError, match="no committed checkpoint"):
        resolve_checkpoint(tmp_path / "nothing")


def test_keep_last_k(shard_dir, tmp_path):
    train(make_cfg(tmp_path, shard_dir, steps=5, checkpoint={"interval": 1, "keep_last": 2}))
    names = [p.name for p in committed_checkpoints(tmp_path / "checkpoints")]
    assert names == ["step-000004", "step-000005"]
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


def _train_losses(cfg):
    return train(cfg).losses


class _Stop(Exception):
    pass


def _train_until(cfg, stop: int):
    """Train a run planned for cfg.train.steps, but stop (every rank) after step `stop`."""

    def on_step(step):
        if step == stop:
            raise _Stop

    try:
        train(cfg, on_step=on_step)
    except _Stop:
        return stop


def test_resume_in_other_layouts(shard_dir, tmp_path):
    """Saved by fsdp2 x tp2 (4 ranks); resumed by dp_shard=4 and by one process."""
    straight = train(make_cfg(tmp_path / "straight", shard_dir, steps=5))
    saved = make_cfg(tmp_path / "saved", shard_dir, steps=5, batch_size=4,
                     parallel={"dp_shard": 2, "tp": 2}, checkpoint={"interval": 3})
    assert run_on_ranks(4, _train_until, saved, 3) == [3] * 4
    for name, world, batch, parallel in (("dp4", 4, 2, {"dp_shard": 4}), ("single", 1, 8, {})):
        shutil.copytree(tmp_path / "saved", tmp_path / name)
        cfg = make_cfg(tmp_path / name, shard_dir, steps=5, batch_size=batch, parallel=parallel)
        losses = run_on_ranks(world, _train_losses, cfg)[0] if world > 1 else train(cfg).losses
        assert sorted(losses) == [4, 5]
        for step in (4, 5):
            assert abs(losses[step] - straight.losses[step]) < 1e-10, (name, step)


def _logged_losses(run_dir) -> dict[int, float]:
    """Rank 0's losses by step from metrics.jsonl (exact: JSON keeps a float's repr)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if "loss" in r}


def test_resume_into_and_out_of_a_pipeline(shard_dir, tmp_path):
    """dp_shard=2 saves step 2; pp2 with two looped stages per rank resumes it and saves
    step 3; one process resumes that for step 4. Every step equals an uninterrupted run."""
    kw = {"steps": 4, "n_layers": 4, "metrics": {"log_interval": 1}, "checkpoint": {"interval": 1}}
    straight = train(make_cfg(tmp_path / "straight", shard_dir, **kw))
    layouts = [(2, 4, {"dp_shard": 2}),
               (2, 8, {"dp_shard": 1, "pp": 2, "pp_schedule": "Interleaved1F1B"}),
               (1, 8, {})]
    run_dir = tmp_path / "run"
    for stop, (world, batch, parallel) in enumerate(layouts, start=2):
        cfg = make_cfg(run_dir, shard_dir, batch_size=batch, parallel=parallel, **kw)
        if world > 1:
            assert run_on_ranks(world, _train_until, cfg, stop) == [stop] * world
        else:
            assert train(cfg).start_step == 3
    losses = _logged_losses(run_dir)
    assert sorted(losses) == [1, 2, 3, 4]
    for step in (1, 2, 3, 4):
        assert abs(losses[step] - straight.losses[step]) < 1e-10, step


def _global(module: str, name: str) -> bytes:
    """Pickle opcodes pushing `module.name` as find_class resolves it (dotted names walk
    attributes)."""

    def text(s: str) -> bytes:
        return pickle.SHORT_BINUNICODE + bytes([len(s)]) + s.encode()
    return text(module) + text(name) + pickle.STACK_GLOBAL


def _call(func: bytes, arg: str) -> bytes:
    arg_bytes = pickle.SHORT_BINUNICODE + bytes([len(arg)]) + arg.encode()
    return func + arg_bytes + pickle.TUPLE1 + pickle.REDUCE


_PAYLOADS = {
    "top-level": lambda cmd: _call(_global("os", "system"), cmd),
    "dotted-through-a-dcp-module": lambda cmd: _call(
        _global("torch.distributed.checkpoint.filesystem", "os.system"), cmd),
    "torch-import-dotted-name": lambda cmd: _call(
        _call(_global("torch._utils", "_import_dotted_name"), "os.system"), cmd),
}


def _evil_checkpoint(root, payload: bytes):
    """A committed checkpoint of the debug model whose DCP `.metadata` is `payload`."""
    path = root / "checkpoints" / "step-000001"
    path.mkdir(parents=True)
    (path / ".metadata").write_bytes(pickle.PROTO + bytes([4]) + payload + pickle.STOP)
    config = ModelConfig.from_preset("debug").to_dict()
    (path / ckpt.META).write_text(json.dumps({"step": 1, "world_size": 1, "model_config": config}))
    (path / COMMITTED).write_text("1\n")
    return path


@pytest.mark.parametrize("name", list(_PAYLOADS))
def test_crafted_metadata_runs_no_code(name, tmp_path):
    marker = tmp_path / "pwned"
    path = _evil_checkpoint(tmp_path / "run", _PAYLOADS[name](f"touch {marker}"))
    error = f"{path / '.metadata'}: .*refusing"
    with pytest.raises(pickle.UnpicklingError, match=error):
        SafeFileSystemReader(path).read_metadata()
    # The paths every load takes: export (load_model), and a resume or load_from.
    with pytest.raises(pickle.UnpicklingError, match=error):
        load_model(tmp_path / "run")
    model = Transformer(ModelConfig.from_preset("debug"))
    with pytest.raises(pickle.UnpicklingError, match=error):
        ckpt.Checkpointer(CheckpointConfig(), tmp_path / "run").load(
            tmp_path / "run", [model], None
        )
    assert not marker.exists()


def test_cli_export_of_a_broken_checkpoint_names_the_file(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = _evil_checkpoint(
        tmp_path / "run", _PAYLOADS["dotted-through-a-dcp-module"](f"touch {marker}")
    )

    def export_error(checkpoint) -> str:
        args = ["export", "--checkpoint", str(checkpoint), "--output", str(tmp_path / "hf")]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1
        return err

    assert export_error(tmp_path / "run").startswith(
        f"lm-dist export: error: {path / '.metadata'}: ")
    assert not marker.exists()
    (path / ckpt.META).write_text('{"step": 1,')
    assert export_error(path).startswith(
        f"lm-dist export: error: {path / ckpt.META}: not valid JSON")
    (path / ckpt.META).write_text(
        json.dumps({"step": 1, "model_config": {}, "param_dtype": "load"})
    )
    assert f"{path / ckpt.META}: param_dtype 'load' is not a torch dtype" in export_error(path)


def test_metadata_that_is_not_a_pickle_names_the_file(tmp_path):
    (tmp_path / ".metadata").write_bytes(b"not a pickle")
    with pytest.raises(pickle.UnpicklingError, match=str(tmp_path / ".metadata")):
        SafeFileSystemReader(tmp_path).read_metadata()


def test_load_from_starts_a_new_run_from_weights_only(shard_dir, tmp_path):
    first = train(make_cfg(tmp_path / "a", shard_dir, steps=2))
    fresh = train(make_cfg(tmp_path / "fresh", shard_dir, steps=1))
    warm = train(make_cfg(tmp_path / "b", shard_dir, steps=1,
                          checkpoint={"load_from": str(tmp_path / "a")}))
    assert warm.start_step == 0  # step, data position and optimizer start over
    # Same first batch as a fresh run, but the trained weights fit it better.
    assert warm.losses[1] < fresh.losses[1] and warm.losses[1] != first.losses[2]
