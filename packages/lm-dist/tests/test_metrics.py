import json

import pytest
import torch
from lm_dist_testdata import make_cfg

from lm_dist.metrics import GPU_PEAK_BF16, peak_flops
from lm_dist.trainer import train

FIELDS = {"step", "time", "loss", "grad_norm", "lr", "tokens_per_s", "tokens_per_s_per_device",
          "mfu", "step_time_s", "data_wait_s", "peak_memory_gib", "skipped_steps", "epoch"}


def test_metrics_jsonl_wandb_offline_and_validation(shard_dir, val_dir, tmp_path, monkeypatch):
    for key in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-home"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    cfg = make_cfg(tmp_path / "run", shard_dir, steps=4,
                   data={"val_path": str(val_dir)},
                   metrics={"wandb_mode": "offline", "log_interval": 2, "val_interval": 2,
                            "val_batches": 2, "peak_flops": 1e9})
    result = train(cfg)
    records = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    train_records = [r for r in records if "loss" in r]
    assert [r["step"] for r in train_records] == [2, 4]
    for r in train_records:
        assert r.keys() >= FIELDS
        assert r["loss"] == result.losses[r["step"]]
        tokens = 32 * 8  # seq_len x global batch
        assert r["tokens_per_s"] == pytest.approx(tokens / r["step_time_s"])
        flops = cfg.model.build().flops_per_token(32)
        assert r["mfu"] == pytest.approx(r["tokens_per_s_per_device"] * flops / 1e9)
        assert r["peak_memory_gib"] > 0 and r["data_wait_s"] >= 0
    val = [r for r in records if "val_loss" in r]
    assert [r["step"] for r in val] == [2, 4]
    assert val[-1]["val_loss"] == result.val_losses[4] and 0 < result.val_losses[4] < 10
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    saved = (tmp_path / "run" / "config.toml").read_text()
    assert "dp_shard = 1" in saved and 'val_path = "' in saved


def test_peak_flops_is_configured_known_or_measured():
    assert peak_flops(torch.device("cpu"), torch.float32, 123.0) == 123.0
    assert GPU_PEAK_BF16["H100"] == 989e12 and GPU_PEAK_BF16["A100"] == 312e12
    assert 1e8 < peak_flops(torch.device("cpu"), torch.float32) < 1e14  # measured matmul
