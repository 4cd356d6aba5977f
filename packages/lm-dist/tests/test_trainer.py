"""Loop features: accumulation, activation checkpointing, bf16, z-loss, the non-finite guard."""

import math

import pytest
import torch.distributed as dist
from lm_dist_ranks import run_on_ranks
from lm_dist_testdata import make_cfg

from lm_dist import trainer
from lm_dist.checkpoint import latest_checkpoint
from lm_dist.trainer import train


@pytest.fixture(scope="module")
def baseline(shard_dir, tmp_path_factory):
    return train(make_cfg(tmp_path_factory.mktemp("base"), shard_dir, steps=3))


def test_grad_accumulation_equals_one_big_batch(baseline, shard_dir, tmp_path):
    accum = train(make_cfg(tmp_path, shard_dir, steps=3, batch_size=4, train={"grad_accum": 2}))
    for step in (1, 2, 3):
        assert accum.losses[step] == pytest.approx(baseline.losses[step], abs=1e-12)
        assert accum.grad_norms[step] == pytest.approx(baseline.grad_norms[step], abs=1e-12)


def test_activation_checkpointing_changes_nothing(baseline, shard_dir, tmp_path):
    ac = train(make_cfg(tmp_path, shard_dir, steps=3, train={"activation_checkpoint": "full"}))
    assert ac.losses == pytest.approx(baseline.losses, abs=1e-12)


def test_bf16_autocast_and_z_loss(baseline, shard_dir, tmp_path):
    bf16 = train(make_cfg(tmp_path / "bf16", shard_dir, steps=3, train={"dtype": "bfloat16"}))
    for step in (1, 2, 3):
        assert bf16.losses[step] == pytest.approx(baseline.losses[step], abs=0.05)
        assert bf16.losses[step] != baseline.losses[step]
    z = train(make_cfg(tmp_path / "z", shard_dir, steps=1, train={"z_loss": 1e-2}))
    # The z-term adds z * mean(logsumexp^2) with logsumexp ~ log(512) at init.
    assert z.losses[1] - baseline.losses[1] == pytest.approx(1e-2 * math.log(512) ** 2, rel=0.05)


def test_non_finite_steps_are_skipped_then_stop_the_run(shard_dir, tmp_path, monkeypatch):
    real = trainer.cross_entropy
    calls = {"n": 0}

    def flaky(logits, targets, z_loss=0.0):
        calls["n"] += 1
        loss = real(logits, targets, z_loss)
        # Step 3 is non-finite once; from step 6 on, always.
        return loss * float("nan") if calls["n"] == 3 or calls["n"] >= 6 else loss

    monkeypatch.setattr(trainer, "cross_entropy", flaky)
    cfg = make_cfg(tmp_path, shard_dir, steps=20, checkpoint={"interval": 2},
                   train={"max_bad_steps": 3})
    with pytest.raises(
        RuntimeError, match=r"3 non-finite steps in a row \(last at step 8\).*step-000004"
    ):
        train(cfg)
    # Step 3 was skipped once and training went on; no checkpoint is written mid-streak.
    assert latest_checkpoint(tmp_path / "checkpoints").name == "step-000004"
    assert not (tmp_path / "checkpoints" / "step-000006").exists()


def _losses(cfg):
    return train(cfg).losses


def test_fsdp_mixed_precision_bf16(baseline, shard_dir, tmp_path):
    """dp_shard=2 with bf16: FSDP2's MixedPrecisionPolicy (bf16 compute, fp32 reduce)."""
    from lm_dist_ranks import run_on_ranks

    cfg = make_cfg(tmp_path, shard_dir, steps=3, batch_size=4, parallel={"dp_shard": 2},
                   train={"dtype": "bfloat16"})
    losses = run_on_ranks(2, _losses, cfg)[0]
    for step in (1, 2, 3):
        assert losses[step] == pytest.approx(baseline.losses[step], abs=0.05)
        assert losses[step] != baseline.losses[step]


def _group_alive_after(cfg, stop: int | None) -> bool:
    """Whether this rank still has a process group after train() returns or raises at `stop`."""

    def on_step(step):
        if step == stop:
            raise RuntimeError("interrupted")

    try:
        train(cfg, on_step=on_step)
    except RuntimeError as e:
        assert str(e) == "interrupted"
    return dist.is_initialized()


def test_train_destroys_the_process_group_it_created(shard_dir, tmp_path):
    for name, stop in (("raises", 1), ("finishes", None)):
        cfg = make_cfg(tmp_path / name, shard_dir, steps=2, batch_size=4, parallel={"dp_shard": 2})
        assert run_on_ranks(2, _group_alive_after, cfg, stop) == [False, False], name
