"""AdamW with decay only on matrices, the warmup-cosine schedule, and global-norm clipping.

A pipeline rank may hold several model parts (virtual stages); each gets its own AdamW and
LR scheduler (as in torchtitan) so optimizer state dicts stay keyed by stable parameter
names. Clipping computes one norm over every shard, tensor-parallel slice and pipeline
stage, so it equals the norm a single process would compute.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.tensor import DTensor
from torch.optim.lr_scheduler import LambdaLR

from lm_dist.config import OptimizerConfig, ScheduleConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Matrices decay; norms (1-D) and embeddings do not (a tied head counts as embedding)."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim < 2 or "tok_embeddings" in name:
            no_decay.append(param)
        else:
            decay.append(param)
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": weight_decay})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def build_optimizer(model: nn.Module, cfg: OptimizerConfig) -> torch.optim.AdamW:
    impl = cfg.implementation
    if impl == "auto":
        on_cuda = all(p.is_cuda for p in model.parameters())
        impl = "fused" if on_cuda else "foreach"
    flags = {"fused": {"fused": True}, "foreach": {"foreach": True},
             "for-loop": {"foreach": False}}[impl]
    return torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas,
                             eps=cfg.eps, **flags)


def lr_factor(step: int, *, warmup_steps: int, total_steps: int, cfg: ScheduleConfig) -> float:
    """Multiplier of the peak LR at optimizer step `step` (0-based).

    Warmup rises linearly to 1 at step `warmup_steps` (step 0 already gets 1/warmup so no
    step is wasted at LR 0); then the factor decays to `min_lr_ratio` at `total_steps`.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    floor = cfg.min_lr_ratio
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    if cfg.decay == "constant":
        return 1.0
    if cfg.decay == "linear":
        return floor + (1 - floor) * (1 - progress)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig,
                    total_steps: int) -> LambdaLR:
    warmup = min(cfg.warmup_steps, total_steps)
    return LambdaLR(optimizer, lambda s: lr_factor(s, warmup_steps=warmup,
                                                   total_steps=total_steps, cfg=cfg))


def grad_norm(parameters: Iterable[torch.Tensor], *,
              pp_group: dist.ProcessGroup | None = None) -> torch.Tensor:
    """L2 norm of all gradients as one vector, across FSDP/TP shards and pipeline stages."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if grads:
        norm = torch.nn.utils.get_total_norm(grads, 2.0, foreach=True)
    else:
        norm = torch.zeros((), dtype=torch.float32)
    if isinstance(norm, DTensor):
        # Partial/sharded placements: reduce over the mesh to the true global norm.
        norm = norm.full_tensor()
    if pp_group is not None:
        # Each stage holds different parameters: sum the squares over the pipeline.
        device = grads[0].device if grads else norm.device
        squared = (norm.to(device, torch.float64) ** 2)
        dist.all_reduce(squared, op=dist.ReduceOp.SUM, group=pp_group)
        norm = squared.sqrt()
    return norm


def clip_grad_norm_(parameters: Iterable[torch.Tensor], max_norm: float, *,
                    pp_group: dist.ProcessGroup | None = None) -> torch.Tensor:
    """Scale every gradient so the global norm is at most `max_norm`; return the norm before.

    `max_norm=0` only measures. Nothing here reads the norm on the host: a non-finite norm
    scales the gradients by a meaningless factor, and the trainer skips that step.
    """
    params = list(parameters)
    norm = grad_norm(params, pp_group=pp_group)
    if max_norm > 0:
        with_grad = [p for p in params if p.grad is not None]
        torch.nn.utils.clip_grads_with_norm_(with_grad, max_norm, norm.to(with_grad[0].grad.dtype),
                                             foreach=True)
    return norm


__all__ = ["build_optimizer", "build_scheduler", "clip_grad_norm_", "grad_norm", "lr_factor",
           "param_groups"]
