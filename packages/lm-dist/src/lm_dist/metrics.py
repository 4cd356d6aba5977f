"""Rank-0 metrics: `metrics.jsonl`, wandb (offline by default), TensorBoard, a progress bar;
`read_metrics(run_dir)` reads a run's `metrics.jsonl` back.

Throughput is reported per step and per device; MFU divides the model FLOPs done per
second per device (`ModelConfig.flops_per_token`) by a peak FLOP/s that is looked up for
known GPUs, configured, or (on CPU) measured with a matmul in the same run.
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lm_core.jsonl import iter_jsonl
from lm_dist.config import MetricsConfig

logger = logging.getLogger(__name__)

# Dense bf16 tensor-core peak per device (vendor datasheets, no sparsity).
GPU_PEAK_BF16 = {
    "H200": 989e12,
    "H100 NVL": 835e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,  # SXM
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 125e12,
}


def measure_matmul_peak(dtype: torch.dtype = torch.float32, device: str = "cpu",
                        n: int = 1024, reps: int = 5) -> float:
    """Achieved FLOP/s of a square matmul on this device: an honest ceiling for MFU."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    a @ b
    if device != "cpu":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    if device != "cpu":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def peak_flops(device: torch.device, dtype: torch.dtype, configured: float | None = None) -> float:
    """Configured peak, else the table entry for a known GPU, else a measured matmul peak."""
    if configured is not None:
        return configured
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in GPU_PEAK_BF16.items():
            if key in name:
                return value if dtype == torch.bfloat16 else value / 2
        logger.warning("unknown GPU %r: measuring a matmul peak for MFU", name)
        return measure_matmul_peak(dtype, "cuda", n=4096, reps=20)
    return measure_matmul_peak(dtype if dtype != torch.float64 else torch.float64)


def reset_peak_memory(device: torch.device) -> None:
    """Start counting peak memory afresh, so it shows training, not model building.

    Building the model passes through transients (the full initial weights on every rank)
    that training never needs again. On Linux the process's resident peak (VmHWM) is reset
    through /proc/self/clear_refs; elsewhere the CPU peak stays the process's lifetime peak.
    """
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        logger.debug("cannot reset the resident peak on this system; it covers the whole process")


def peak_memory_gib(device: torch.device) -> float:
    """Peak memory since the last `reset_peak_memory`: allocated by torch on CUDA, resident
    for the whole process on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    try:
        status = Path("/proc/self/status").read_text()
        kib = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")
        )
        return kib / 2**20
    except (OSError, StopIteration):
        # ru_maxrss is KiB on Linux (bytes on macOS): resident peak of the whole process.
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**30


def set_matmul_precision(device: torch.device, dtype: torch.dtype) -> None:
    """float32 runs on CUDA use TF32 tensor cores, the precision the fp32 MFU peak assumes
    (half the bf16 peak); without it, fp32 matmuls run at a fraction of that and MFU lies."""
    if device.type != "cuda" or dtype != torch.float32:
        return
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):  # torch >= 2.9
        matmul.fp32_precision = "tf32"
        torch.backends.cudnn.conv.fp32_precision = "tf32"
    else:
        torch.set_float32_matmul_precision("high")


class MetricsLogger:
    """Writes one JSON line per logged step and mirrors it to wandb/TensorBoard on rank 0.

    Other ranks get a logger that does nothing, so the trainer calls it unconditionally.
    """

    def __init__(
        self,
        cfg: MetricsConfig,
        run_dir: str | Path,
        *,
        enabled: bool,
        total_steps: int,
        start_step: int = 0,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.cfg, self.enabled = cfg, enabled
        self.run_dir = Path(run_dir)
        self._file = None
        self._wandb = None
        self._tb = None
        self._bar = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.run_dir / "metrics.jsonl", "a")  # noqa: SIM115 - closed in close()
        if cfg.wandb_mode != "disabled":
            self._wandb = _init_wandb(cfg, self.run_dir, config or {})
        if cfg.tensorboard:
            self._tb = _init_tensorboard(self.run_dir)
        if cfg.progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step",
                             dynamic_ncols=True)

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"step": step, "time": time.time(), **values}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._wandb is not None:
            self._wandb.log(values, step=step)
        if self._tb is not None:
            for key, value in values.items():
                self._tb.add_scalar(key, value, step)
        if self._bar is not None and "loss" in values:
            self._bar.set_postfix(loss=f"{values['loss']:.4f}", lr=f"{values.get('lr', 0):.2e}",
                                  tok_s=f"{values.get('tokens_per_s', 0):.0f}")

    def advance(self, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._file is not None:
            self._file.close()
        if self._wandb is not None:
            self._wandb.finish()
        if self._tb is not None:
            self._tb.close()


def _init_wandb(cfg: MetricsConfig, run_dir: Path, config: dict[str, Any]):
    import wandb

    # An explicit WANDB_MODE (e.g. "disabled" on a cluster) wins over the config.
    mode = os.environ.get("WANDB_MODE", cfg.wandb_mode)
    return wandb.init(project=cfg.wandb_project, dir=str(run_dir), mode=mode, config=config,
                      name=run_dir.name, reinit="finish_previous")


def _init_tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise ImportError(
            "metrics.tensorboard needs TensorBoard: pip install 'lm-dist[tensorboard]'"
        ) from e
    return SummaryWriter(log_dir=str(run_dir / "tensorboard"))


@dataclass(kw_only=True)
class RunMetrics:
    """A run's `metrics.jsonl`, read back by `read_metrics`."""

    path: Path
    """The metrics.jsonl file."""
    train: list[dict[str, Any]] = field(default_factory=list)
    """Training rows (those with `loss`) by step. A resumed run logs again the steps after
    its checkpoint: the last row of a step wins."""
    val: list[dict[str, Any]] = field(default_factory=list)
    """Validation rows (those with `val_loss`) by step, the last row of a step winning."""
    skipped: list[tuple[int, str]] = field(default_factory=list)
    """(line number, reason) of each line that could not be read, e.g. the half-written last
    line of a killed run."""
    val_tokens_per_byte: float | None = None
    """Tokens per byte of the validation shards (from their manifest), if it is known."""

    @property
    def final(self) -> dict[str, float]:
        """The run's figures: last `step` and `loss`, last `val_loss` (and, where the
        validation shards record their bytes, `val_bits_per_byte`), and the medians of
        `tokens_per_s` and `mfu` over the logged steps after the first (which pays for
        compilation and warm-up)."""
        figures: dict[str, float] = {}
        if self.train:
            figures.update(step=self.train[-1]["step"], loss=self.train[-1]["loss"])
        for key in ("tokens_per_s", "mfu"):
            values = sorted(r[key] for r in self.train[1:] if r.get(key) is not None)
            if values:
                figures[f"median_{key}"] = values[len(values) // 2]
        if self.val:
            figures["val_loss"] = loss = self.val[-1]["val_loss"]
            if self.val_tokens_per_byte is not None:
                # nats per token -> bits per byte (the tokens include the bos/eos markers).
                figures["val_bits_per_byte"] = loss * self.val_tokens_per_byte / math.log(2)
        return figures


def _by_step(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted({row["step"]: row for row in rows}.values(), key=lambda row: row["step"])


def _val_tokens_per_byte(run_dir: Path) -> float | None:
    """num_tokens / num_bytes of the validation shards named in the run's resolved config.

    The loss is the mean over `metrics.val_batches` batches, so the bits per byte derived
    from it are the whole validation set's only when those batches cover it.
    """
    config = run_dir / "config.toml"
    if not config.is_file():
        return None
    val_path = tomllib.loads(config.read_text()).get("data", {}).get("val_path")
    manifest = Path(val_path) / "manifest.json" if val_path else None
    if manifest is None or not manifest.is_file():
        return None
    values = json.loads(manifest.read_text())
    if not values.get("num_bytes"):
        return None
    return values["num_tokens"] / values["num_bytes"]


def read_metrics(run_dir: str | Path) -> RunMetrics:
    """The training and validation rows of `<run_dir>/metrics.jsonl` and the run's final
    figures. A line that is not a JSON object with a `step` is skipped, counted in
    `skipped` and logged (a killed run can leave its last line half written)."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (has the run in {run_dir} logged a step?)")
    rows, skipped = [], []
    for n, row in iter_jsonl(path, on_error=lambda n, _raw, why: skipped.append((n, why))):
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            skipped.append((n, "not a JSON object with an integer 'step'"))
            continue
        rows.append(row)
    for n, reason in skipped:
        logger.warning("%s:%d: skipped: %s", path, n, reason)
    return RunMetrics(path=path, train=_by_step([r for r in rows if "loss" in r]),
                      val=_by_step([r for r in rows if "val_loss" in r]), skipped=skipped,
                      val_tokens_per_byte=_val_tokens_per_byte(run_dir))


__all__ = [
    "GPU_PEAK_BF16",
    "MetricsLogger",
    "RunMetrics",
    "measure_matmul_peak",
    "peak_flops",
    "peak_memory_gib",
    "read_metrics",
    "reset_peak_memory",
    "set_matmul_precision",
]
