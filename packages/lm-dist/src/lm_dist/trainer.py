"""`train(cfg)`: the pretraining loop over whatever layout `cfg.parallel` describes.

Launch one process per device with torchrun (or a single process without it). Every rank
builds the same full initial weights from the seed on the CPU and keeps only its share,
so the start of a run does not depend on the layout; a resumed run restores everything
(weights, AdamW moments, LR schedule, data position, RNG) from the latest committed
checkpoint, in any layout.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.distributed.tensor import DTensor
from torch.distributed.tensor.parallel import loss_parallel

from lm_dist.checkpoint import Checkpointer, latest_checkpoint
from lm_dist.config import TrainConfig
from lm_dist.data import Prefetcher, TokenLoader, TokenShards
from lm_dist.mesh import Mesh, build_mesh, init_distributed, pick_device
from lm_dist.metrics import (
    MetricsLogger,
    peak_flops,
    peak_memory_gib,
    reset_peak_memory,
    set_matmul_precision,
)
from lm_dist.optim import build_optimizer, build_scheduler, clip_grad_norm_
from lm_dist.parallelize import parallelize
from lm_dist.pipeline_parallel import build_schedule, split_stage, stage_ids
from lm_model import ModelConfig, Transformer

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16}


@dataclass(kw_only=True)
class TrainResult:
    """What a finished run reports back (the same on every rank)."""

    losses: dict[int, float] = field(default_factory=dict)
    """Global mean training loss of every step this process ran, keyed by step (1-based)."""
    grad_norms: dict[int, float] = field(default_factory=dict)
    """Global gradient norm before clipping, by step."""
    val_losses: dict[int, float] = field(default_factory=dict)
    """Validation loss by step."""
    skipped_steps: int = 0
    """Steps skipped for a non-finite loss or gradient norm."""
    start_step: int = 0
    """The step this process resumed from (0 for a fresh run)."""


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, z_loss: float = 0.0) -> torch.Tensor:
    """Mean next-token cross-entropy, plus z_loss*mean(logsumexp²) when z_loss > 0."""
    # At least fp32 for the softmax (bf16 logits lose the small probabilities), float64 kept.
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    if z_loss:
        loss = loss + z_loss * torch.logsumexp(logits, dim=-1).pow(2).mean()
    return loss


@dataclass(kw_only=True)
class Model:
    """The parts this rank holds (one, or several pipeline stages) and how to run them."""

    parts: list[nn.Module]
    schedule: object | None
    first: bool
    last: bool
    loss_parallel: bool
    autocast: torch.dtype | None

    def context(self):
        stack = contextlib.ExitStack()
        if self.loss_parallel:
            stack.enter_context(loss_parallel())
        if self.autocast is not None:
            device = next(self.parts[0].parameters()).device.type
            stack.enter_context(torch.autocast(device, dtype=self.autocast))
        return stack

    def parameters(self) -> list[torch.Tensor]:
        return [p for part in self.parts for p in part.parameters()]


def initial_state(config: ModelConfig, seed: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The full model's initial weights, from the seed alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Transformer(config)
    return {k: v.to(dtype) for k, v in model.state_dict().items()}


def _materialize(part: nn.Module, state: dict[str, torch.Tensor], device: torch.device) -> None:
    keys = part.state_dict().keys()
    part.load_state_dict({k: state[k].to(device, copy=True) for k in keys}, assign=True)
    if part.config.tie_embeddings and part.tok_embeddings is not None and part.output is not None:
        part.output.weight = part.tok_embeddings.weight
    part.init_buffers(device)


def build_model(cfg: TrainConfig, config: ModelConfig, mesh: Mesh) -> Model:
    """This rank's model parts, weights initialised layout-independently, parallelized."""
    par, dtype = mesh.parallel, DTYPES[cfg.train.dtype]
    master = torch.float32 if dtype == torch.bfloat16 else dtype
    fsdp_bf16 = dtype == torch.bfloat16 and mesh.dp_mesh is not None
    state = initial_state(config, cfg.train.seed, master)
    with torch.device("meta"):
        whole = Transformer(config)
    use_loss_parallel = par.tp > 1 and par.pp == 1 and cfg.train.z_loss == 0
    ids = stage_ids(mesh.local_rank("pp"), par) if par.pp > 1 else [0]
    parts = []
    for i in ids:
        part = split_stage(whole, i, par.num_stages) if par.pp > 1 else whole
        _materialize(part, state, mesh.device)
        parallelize(part, mesh=mesh, param_dtype=torch.bfloat16 if fsdp_bf16 else None,
                    reduce_dtype=torch.float32 if fsdp_bf16 else None,
                    activation_checkpoint=cfg.train.activation_checkpoint == "full",
                    compile=cfg.train.compile, loss_parallel=use_loss_parallel,
                    pipelined=par.pp > 1)
        parts.append(part)
    del state
    autocast = torch.bfloat16 if dtype == torch.bfloat16 and not fsdp_bf16 else None
    model = Model(parts=parts, schedule=None, first=0 in ids, last=par.num_stages - 1 in ids,
                  loss_parallel=use_loss_parallel, autocast=autocast)
    if par.pp > 1:
        z, accum = cfg.train.z_loss, cfg.train.grad_accum
        model.schedule = build_schedule(
            parts, ids, par, device=mesh.device, group=mesh.pp_group,
            loss_fn=lambda out, tgt: cross_entropy(out, tgt, z) / accum)
    return model


def _global_mean(value: torch.Tensor | None, model: Model, mesh: Mesh) -> torch.Tensor:
    """Mean over data-parallel ranks of a loss known on the last stage's tp ranks, as a
    float64 tensor on the device: reading it is left to the caller (a host sync)."""
    if mesh.mesh is None:
        return value.detach().double()
    counts = model.last and mesh.local_rank("tp") == 0
    local = (value.detach().double() if counts and value is not None
             else torch.zeros((), dtype=torch.float64, device=mesh.device))
    dist.all_reduce(local, op=dist.ReduceOp.SUM)
    return local / mesh.parallel.dp


def forward_backward(model: Model, inputs: torch.Tensor, targets: torch.Tensor,
                     cfg: TrainConfig) -> torch.Tensor | None:
    """One micro-step; returns the (accumulation-scaled) loss where it is known."""
    if model.schedule is not None:
        losses: list[torch.Tensor] = []
        kwargs = {"target": targets, "losses": losses} if model.last else {}
        args = (inputs,) if model.first else ()
        with model.context():
            model.schedule.step(*args, **kwargs)
        return torch.stack(losses).mean() if model.last else None
    with model.context():
        logits = model.parts[0](inputs)
        loss = cross_entropy(logits, targets, cfg.train.z_loss) / cfg.train.grad_accum
        loss.backward()
    loss = loss.detach()
    # Under loss parallel the loss is a replicated DTensor.
    return loss.full_tensor() if isinstance(loss, DTensor) else loss


@torch.no_grad()
def validation_loss(model: Model, shards: TokenShards, cfg: TrainConfig, mesh: Mesh) -> float:
    """Mean loss over the first `metrics.val_batches` batches of the held-out shards."""
    loader = TokenLoader(shards, seq_len=cfg.data.seq_len, batch_size=cfg.data.batch_size,
                         dp_rank=mesh.dp_rank, dp_size=mesh.parallel.dp, shuffle=False)
    for part in model.parts:
        part.eval()
    total = 0.0
    for _ in range(cfg.metrics.val_batches):
        inputs, targets = (t.to(mesh.device) for t in loader.next_batch())
        if model.schedule is not None:
            losses: list[torch.Tensor] = []
            kwargs = {"target": targets, "losses": losses} if model.last else {}
            with model.context():
                model.schedule.eval(*((inputs,) if model.first else ()), **kwargs)
            # The pipeline loss_fn divides by grad_accum for training; undo it here.
            loss = torch.stack(losses).mean() * cfg.train.grad_accum if model.last else None
        else:
            with model.context():
                loss = cross_entropy(model.parts[0](inputs), targets, 0.0)
                loss = loss.full_tensor() if isinstance(loss, DTensor) else loss
        total += _global_mean(loss, model, mesh)
    for part in model.parts:
        part.train()
    return float(total) / cfg.metrics.val_batches  # one host read per validation


@dataclass(kw_only=True)
class _Run:
    """Everything the loop touches, built once by `_setup`."""

    cfg: TrainConfig
    mesh: Mesh
    model_config: ModelConfig
    model: Model
    loader: Prefetcher
    val_shards: TokenShards | None
    optimizers: list[torch.optim.Optimizer]
    schedulers: list[torch.optim.lr_scheduler.LRScheduler]
    checkpointer: Checkpointer
    step: int = 0
    bad_in_a_row: int = 0

    @property
    def rank0(self) -> bool:
        return not dist.is_initialized() or dist.get_rank() == 0

    def meta(self) -> dict:
        return {"data": self.loader.state_dict(),
                "schedulers": [s.state_dict() for s in self.schedulers],
                "model_config": self.model_config.to_dict(),
                "param_dtype": "float64" if self.cfg.train.dtype == "float64" else "float32",
                "parallel": vars(self.mesh.parallel), "bad_in_a_row": self.bad_in_a_row}

    def save(self) -> None:
        self.checkpointer.save(self.step, self.model.parts, self.optimizers, self.meta())

    def restore(self, path: Path, *, full: bool) -> None:
        meta = self.checkpointer.load(path, self.model.parts, self.optimizers if full else None)
        if full:
            self.step = meta["step"]
            self.loader.load_state_dict(meta["data"])
            # One scheduler per model part, all stepped together: a layout with another
            # number of stages per rank resumes every one from the first's position.
            for sched in self.schedulers:
                _restore_schedule_position(sched, meta["schedulers"][0])
            self.bad_in_a_row = meta.get("bad_in_a_row", 0)


def _restore_schedule_position(scheduler: torch.optim.lr_scheduler.LRScheduler,
                               saved: dict) -> None:
    """Move `scheduler` to the saved step. Only the position is taken: base_lrs and the
    like describe the saving layout's param groups, and the current LRs came back with the
    optimizer state."""
    state = scheduler.state_dict()
    state.update(last_epoch=saved["last_epoch"], _step_count=saved["_step_count"],
                 _last_lr=[group["lr"] for group in scheduler.optimizer.param_groups])
    scheduler.load_state_dict(state)


def _max_token_id(shards: TokenShards, mesh: Mesh) -> int:
    """The largest id in the shards: as lm-tok recorded it, else scanned once by all ranks
    together (each takes every world-th shard) and combined, so no rank scans the corpus
    alone and all finish together."""
    recorded = shards.recorded_max_token_id
    if recorded is not None:
        return recorded
    if not dist.is_initialized():
        return shards.scan_max_token_id()
    top = shards.scan_max_token_id(part=dist.get_rank(), parts=dist.get_world_size())
    top_t = torch.tensor(top, device=mesh.device)
    dist.all_reduce(top_t, op=dist.ReduceOp.MAX)
    return int(top_t)


def _check_ids(shards: TokenShards, config: ModelConfig, mesh: Mesh, scan: bool) -> None:
    top = _max_token_id(shards, mesh) if scan else None
    shards.check_vocab(config.vocab_size, max_token_id=top)


def _load_data(cfg: TrainConfig, config: ModelConfig, mesh: Mesh):
    if not cfg.data.path:
        raise ValueError("data.path is empty: point it at a token shard directory")
    shards = TokenShards(cfg.data.path)
    _check_ids(shards, config, mesh, cfg.data.check_token_ids)
    val = None
    if cfg.data.val_path:
        val = TokenShards(cfg.data.val_path)
        _check_ids(val, config, mesh, cfg.data.check_token_ids)
    loader = TokenLoader(shards, seq_len=cfg.data.seq_len,
                         batch_size=cfg.data.batch_size * cfg.train.grad_accum,
                         dp_rank=mesh.dp_rank, dp_size=mesh.parallel.dp, seed=cfg.data.seed)
    return loader, val


def _setup(cfg: TrainConfig) -> _Run:
    device = pick_device(cfg.train.device)
    set_matmul_precision(device, DTYPES[cfg.train.dtype])
    init_distributed(device)
    mesh = build_mesh(cfg.parallel, device)
    config = cfg.model.build()
    loader, val = _load_data(cfg, config, mesh)  # bad data fails before any model is built
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg, config, mesh)
    optimizers = [build_optimizer(part, cfg.optim) for part in model.parts]
    schedulers = [build_scheduler(o, cfg.schedule, cfg.train.steps) for o in optimizers]
    run = _Run(cfg=cfg, mesh=mesh, model_config=config, model=model,
               loader=Prefetcher(loader, mesh.device),
               val_shards=val, optimizers=optimizers, schedulers=schedulers,
               checkpointer=Checkpointer(cfg.checkpoint, cfg.run_dir))
    latest = latest_checkpoint(run.checkpointer.directory) if cfg.checkpoint.resume else None
    if latest is not None:
        run.restore(latest, full=True)
    elif cfg.checkpoint.load_from:
        run.restore(Path(cfg.checkpoint.load_from), full=False)
    reset_peak_memory(device)
    if run.rank0:
        resolved = TrainConfig.from_dict({**cfg.to_dict(), "parallel": vars(mesh.parallel)})
        Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
        (Path(cfg.run_dir) / "config.toml").write_text(resolved.to_toml())
    return run


@dataclass(frozen=True)
class _StepOut:
    """What a step leaves on the device; read on the host only when needed (`_Pending`)."""

    step: int
    loss: torch.Tensor
    norm: torch.Tensor
    waited: float


def _fused(optimizers: list[torch.optim.Optimizer]) -> bool:
    return all(opt.defaults.get("fused") for opt in optimizers)


def _step(run: _Run) -> _StepOut:
    """One optimizer step, skipped where the loss or gradient norm is not finite.

    With fused AdamW (the default on CUDA) the skip happens on the device through the
    optimizer's `found_inf`, so a step needs no host synchronisation; other implementations
    read the verdict on the host, which costs nothing on CPU.
    """
    cfg, mesh, model = run.cfg, run.mesh, run.model
    t0 = time.perf_counter()
    inputs, targets = run.loader.next_batch()
    waited = time.perf_counter() - t0
    micro = cfg.data.batch_size
    total = None
    for i in range(cfg.train.grad_accum):
        loss = forward_backward(model, inputs[i * micro:(i + 1) * micro],
                                targets[i * micro:(i + 1) * micro], cfg)
        if loss is not None:
            total = loss if total is None else total + loss
    loss_t = _global_mean(total, model, mesh)
    norm_t = clip_grad_norm_(model.parameters(), cfg.optim.max_grad_norm, pp_group=mesh.pp_group)
    finite = torch.isfinite(loss_t) & torch.isfinite(norm_t)
    if _fused(run.optimizers):
        for opt in run.optimizers:
            opt.found_inf = (~finite).float()
            opt.step()
    elif bool(finite):
        for opt in run.optimizers:
            opt.step()
    for opt in run.optimizers:
        opt.zero_grad(set_to_none=True)
    for sched in run.schedulers:
        sched.step()
    run.step += 1
    return _StepOut(run.step, loss_t, norm_t, waited)


@dataclass
class _Pending:
    """Steps whose loss and norm are still on the device, read together in one sync."""

    steps: list[_StepOut] = field(default_factory=list)

    def flush(self, run: _Run, result: TrainResult) -> None:
        """Read every pending step's values; count and report skipped steps; stop the run
        after `train.max_bad_steps` non-finite steps in a row."""
        if not self.steps:
            return
        values = torch.stack([torch.stack([s.loss, s.norm.double()]) for s in self.steps]).tolist()
        for out, (loss, norm) in zip(self.steps, values, strict=True):
            result.losses[out.step], result.grad_norms[out.step] = loss, norm
            if math.isfinite(loss) and math.isfinite(norm):
                run.bad_in_a_row = 0
                continue
            run.bad_in_a_row += 1
            result.skipped_steps += 1
            logger.warning(
                "step %d: non-finite loss %s or grad norm %s; skipped", out.step, loss, norm
            )
            if run.bad_in_a_row >= run.cfg.train.max_bad_steps:
                raise RuntimeError(
                    f"{run.bad_in_a_row} non-finite steps in a row (last at step {out.step}); "
                    "stopping. The last good checkpoint is "
                    f"{latest_checkpoint(run.checkpointer.directory)}"
                )
        self.steps.clear()


def _can_validate(cfg: TrainConfig) -> bool:
    # ZBVZeroBubble's evaluation step fails in torch.distributed.pipelining ("can't
    # steal_bwd_input if this stage doesn't have backward"), so it reports no validation loss.
    if cfg.parallel.pp > 1 and cfg.parallel.pp_schedule == "ZBVZeroBubble":
        logger.warning("no validation loss with parallel.pp_schedule=%s", cfg.parallel.pp_schedule)
        return False
    return True


def train(cfg: TrainConfig, *, on_step: Callable[[int], None] | None = None) -> TrainResult:
    """Train to `cfg.train.steps`, resuming if the run directory has a checkpoint.

    `on_step(step)` runs after every step (tests use it to kill the process mid-run). A
    process group this call initialises (under torchrun) is destroyed when it returns or
    raises; one that already existed is left to its owner.
    """
    owns_group = not dist.is_initialized()
    try:
        return _train(cfg, on_step)
    finally:
        # Left alive, NCCL warns at exit and may hang or leak its communicators.
        if owns_group and dist.is_initialized():
            dist.destroy_process_group()


@dataclass
class _Window:
    """Steps since the last log line. Throughput is measured over the window, ending right
    after the host read that waits for the device: per-step host timings would only measure
    how fast a CUDA step is queued. Validation and checkpoint time is left out."""

    start: float = field(default_factory=time.perf_counter)
    steps: int = 0
    waited: float = 0.0
    excluded: float = 0.0

    def step_time(self) -> float:
        return (time.perf_counter() - self.start - self.excluded) / max(self.steps, 1)


def _train(cfg: TrainConfig, on_step: Callable[[int], None] | None) -> TrainResult:
    run = _setup(cfg)
    result = TrainResult(start_step=run.step)
    tokens_per_step = (
        cfg.data.seq_len * cfg.data.batch_size * cfg.train.grad_accum * run.mesh.parallel.dp
    )
    world = dist.get_world_size() if dist.is_initialized() else 1
    flops_per_token = run.model_config.flops_per_token(cfg.data.seq_len)
    peak = (
        peak_flops(run.mesh.device, DTYPES[cfg.train.dtype], cfg.metrics.peak_flops)
        if run.rank0
        else 1.0
    )
    metrics = MetricsLogger(
        cfg.metrics,
        cfg.run_dir,
        enabled=run.rank0,
        total_steps=cfg.train.steps,
        start_step=run.step,
        config=cfg.to_dict(),
    )
    pending, window = _Pending(), _Window()
    try:
        while run.step < cfg.train.steps:
            out = _step(run)
            pending.steps.append(out)
            window.steps, window.waited = window.steps + 1, window.waited + out.waited
            last = run.step == cfg.train.steps
            log_due = run.step % cfg.metrics.log_interval == 0 or last
            save_due = run.checkpointer.due(run.step, cfg.train.steps)
            # The host reads losses only where it must: to log, to decide on a checkpoint,
            # and every step where the skip itself was decided on the host (no fused AdamW).
            if log_due or save_due or on_step is not None or not _fused(run.optimizers):
                pending.flush(run, result)
            if log_due:
                step_time = window.step_time()
                tps = tokens_per_step / step_time
                metrics.log(run.step, {
                    "loss": result.losses[run.step], "grad_norm": result.grad_norms[run.step],
                    "lr": run.schedulers[0].get_last_lr()[0],
                    "tokens_per_s": tps, "tokens_per_s_per_device": tps / world,
                    "mfu": tps / world * flops_per_token / peak, "step_time_s": step_time,
                    "data_wait_s": window.waited / window.steps,
                    "peak_memory_gib": peak_memory_gib(run.mesh.device),
                    "skipped_steps": result.skipped_steps, "epoch": run.loader.epoch})
            t0 = time.perf_counter()
            val_due = cfg.metrics.val_interval and run.step % cfg.metrics.val_interval == 0
            if run.val_shards is not None and (val_due or last) and _can_validate(cfg):
                loss = validation_loss(run.model, run.val_shards, cfg, run.mesh)
                result.val_losses[run.step] = loss
                metrics.log(run.step, {"val_loss": result.val_losses[run.step]})
            # Never checkpoint in the middle of a non-finite streak.
            if save_due and not run.bad_in_a_row:
                run.save()
            metrics.advance()
            if on_step is not None:
                on_step(run.step)
            window.excluded += time.perf_counter() - t0
            if log_due:
                window = _Window()
        pending.flush(run, result)
        run.checkpointer.wait()  # commit a background save still in flight
    finally:
        run.loader.close()
        metrics.close()
    return result


__all__ = ["TrainResult", "build_model", "cross_entropy", "initial_state", "train",
           "validation_loss"]
