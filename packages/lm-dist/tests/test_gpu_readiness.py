"""What a first GPU run would hit, checked on CPU: peak memory, TF32, RNG keys, device choice,
asynchronous checkpoints."""

import json
import shutil
import time

import numpy as np
import pytest
import torch
from lm_dist_ranks import run_on_ranks
from lm_dist_testdata import make_cfg

from lm_dist import checkpoint, trainer
from lm_dist.checkpoint import committed_checkpoints
from lm_dist.mesh import pick_device
from lm_dist.metrics import peak_memory_gib, reset_peak_memory, set_matmul_precision
from lm_dist.trainer import train

CPU = torch.device("cpu")


def _peak_in_metrics(run_dir) -> float:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return max(json.loads(line).get("peak_memory_gib", 0.0) for line in lines)


def test_reset_peak_memory_forgets_a_transient():
    transient = np.ones(2**30 // 8)  # 1 GiB, touched
    del transient
    before = peak_memory_gib(CPU)
    reset_peak_memory(CPU)
    assert peak_memory_gib(CPU) < before - 0.5


def test_peak_memory_in_metrics_excludes_model_building(shard_dir, tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    train(make_cfg(plain, shard_dir, steps=1))
    build = trainer.build_model

    def build_with_transient(*args, **kwargs):
        transient = np.ones(3 * 2**30 // 2 // 8)  # 1.5 GiB, as the full initial weights would be
        del transient
        return build(*args, **kwargs)

    monkeypatch.setattr(trainer, "build_model", build_with_transient)
    spiky = tmp_path / "spiky"
    train(make_cfg(spiky, shard_dir, steps=1))
    assert _peak_in_metrics(spiky) < _peak_in_metrics(plain) + 0.5


def test_float32_on_cuda_uses_tf32_and_nothing_else_changes():
    matmul = torch.backends.cuda.matmul
    saved = matmul.fp32_precision
    try:
        matmul.fp32_precision = "ieee"
        set_matmul_precision(CPU, torch.float32)
        set_matmul_precision(torch.device("cuda"), torch.float64)
        assert matmul.fp32_precision == "ieee"
        set_matmul_precision(torch.device("cuda"), torch.float32)
        assert matmul.fp32_precision == "tf32"
    finally:
        matmul.fp32_precision = saved


@pytest.mark.parametrize("saved_on,resumed_on", [("cpu", "gpu"), ("gpu", "cpu")])
def test_resume_across_device_types_restores_the_rng_it_has(saved_on, resumed_on, shard_dir,
                                                             tmp_path, monkeypatch):
    """A checkpoint written on CPU has no CUDA generator state, and the other way round."""
    cpu_only = checkpoint._rng_state

    def with_cuda():
        return {**cpu_only(), "cuda": torch.zeros(16, dtype=torch.uint8)}

    full = train(make_cfg(tmp_path / "full", shard_dir, steps=3))
    run_dir = tmp_path / "run"
    monkeypatch.setattr(checkpoint, "_rng_state", with_cuda if saved_on == "gpu" else cpu_only)
    train(make_cfg(run_dir, shard_dir, steps=2, checkpoint={"interval": 2}))
    monkeypatch.setattr(checkpoint, "_rng_state", with_cuda if resumed_on == "gpu" else cpu_only)
    resumed = train(make_cfg(run_dir, shard_dir, steps=3))
    assert resumed.start_step == 2
    assert resumed.losses[3] == pytest.approx(full.losses[3], abs=1e-12)


def test_more_local_ranks_than_gpus_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ValueError, match="LOCAL_RANK 1 but this host has 1 CUDA device"):
        pick_device("auto")


def _async_run(cfg):
    return train(cfg).losses


def test_async_checkpoints_commit_and_resume_exactly(shard_dir, tmp_path, monkeypatch):
    """Background saves (2 ranks, FSDP) are committed and resume like synchronous ones."""
    straight = train(make_cfg(tmp_path / "straight", shard_dir, steps=4))
    run_dir = tmp_path / "async"
    cfg = make_cfg(run_dir, shard_dir, steps=4, batch_size=4, parallel={"dp_shard": 2},
                   checkpoint={"interval": 2, "async_save": True})
    losses = run_on_ranks(2, _async_run, cfg)[0]
    assert losses == pytest.approx(straight.losses, abs=1e-12)
    checkpoints = run_dir / "checkpoints"
    assert committed_checkpoints(checkpoints) == [checkpoints / "step-000002",
                                                  checkpoints / "step-000004"]
    assert not list(checkpoints.glob("*.tmp"))
    shutil.rmtree(checkpoints / "step-000004")  # resume from the save that overlapped training
    calls = []
    async_save = checkpoint.dcp.async_save
    monkeypatch.setattr(checkpoint.dcp, "async_save",
                        lambda *a, **kw: calls.append(1) or async_save(*a, **kw))
    resumed = train(make_cfg(run_dir, shard_dir, steps=4, checkpoint={"async_save": True}))
    assert calls == [1]  # the final save went through DCP's async path
    assert resumed.start_step == 2
    assert resumed.losses == pytest.approx({3: straight.losses[3], 4: straight.losses[4]},
                                           abs=1e-12)


_HOST_READS = ("item", "tolist", "__float__", "__bool__", "__int__")


def _count_host_reads(monkeypatch) -> list[str]:
    """Every tensor value read on the host (a device synchronisation on a GPU)."""
    reads: list[str] = []
    for name in _HOST_READS:
        original = getattr(torch.Tensor, name)

        def spy(self, *args, _name=name, _original=original, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, spy)
    return reads


def test_fused_adamw_steps_read_nothing_on_the_host_between_log_steps(shard_dir, tmp_path,
                                                                     monkeypatch):
    reads = _count_host_reads(monkeypatch)
    per_step: list[int] = []
    real_step = trainer._step

    def counted(run):
        before = len(reads)
        out = real_step(run)
        per_step.append(len(reads) - before)
        return out

    monkeypatch.setattr(trainer, "_step", counted)
    cfg = make_cfg(tmp_path / "fused", shard_dir, steps=6, optim={"implementation": "fused"},
                   metrics={"log_interval": 3})
    result = train(cfg)
    assert per_step == [0] * 6
    assert sorted(result.losses) == [1, 2, 3, 4, 5, 6]  # read in batches, at log steps
    plain = train(make_cfg(tmp_path / "foreach", shard_dir, steps=6))
    assert result.losses == pytest.approx(plain.losses, abs=1e-12)


def test_fused_adamw_skips_non_finite_steps_on_the_device(shard_dir, tmp_path, monkeypatch):
    real = trainer.cross_entropy
    calls = {"n": 0}

    def flaky(logits, targets, z_loss=0.0):
        calls["n"] += 1
        loss = real(logits, targets, z_loss)
        return loss * float("nan") if calls["n"] == 2 else loss

    monkeypatch.setattr(trainer, "cross_entropy", flaky)
    fused = train(make_cfg(tmp_path / "fused", shard_dir, steps=4, metrics={"log_interval": 4},
                           optim={"implementation": "fused"}))
    calls["n"] = 0
    foreach = train(make_cfg(tmp_path / "foreach", shard_dir, steps=4))
    assert fused.skipped_steps == foreach.skipped_steps == 1
    assert fused.losses[4] == pytest.approx(foreach.losses[4], abs=1e-12)


def _fused_fsdp(cfg):
    return train(cfg).losses


def test_fused_adamw_on_fsdp_shards_matches_one_process(shard_dir, tmp_path):
    single = train(make_cfg(tmp_path / "one", shard_dir, steps=3))
    cfg = make_cfg(tmp_path / "fsdp", shard_dir, steps=3, batch_size=4, parallel={"dp_shard": 2},
                   optim={"implementation": "fused"})
    for losses in run_on_ranks(2, _fused_fsdp, cfg):
        assert losses == pytest.approx(single.losses, abs=1e-10)


def test_batches_are_prepared_in_a_background_thread(shard_dir, tmp_path, monkeypatch):
    import threading

    from lm_dist.data import TokenLoader

    threads = set()
    real = TokenLoader.next_batch

    def spy(self):
        threads.add(threading.current_thread().name)
        return real(self)

    monkeypatch.setattr(TokenLoader, "next_batch", spy)
    train(make_cfg(tmp_path, shard_dir, steps=3))
    assert threads == {"batch-prefetch"}


def test_throughput_is_measured_over_the_log_window(shard_dir, tmp_path, monkeypatch):
    """A CUDA step returns once queued, so one step's host time says nothing: step_time_s is
    the window's average. Here step 1 stalls 0.6 s, and the log at step 3 must include it."""
    real_step = trainer._step

    def stalling(run):
        out = real_step(run)
        if out.step == 1:
            time.sleep(0.6)
        return out

    monkeypatch.setattr(trainer, "_step", stalling)
    train(make_cfg(tmp_path, shard_dir, steps=3, metrics={"log_interval": 3}))
    (record,) = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
                 if "loss" in line]
    assert record["step"] == 3 and record["step_time_s"] >= 0.2  # (0.6 s + 2 steps) / 3
