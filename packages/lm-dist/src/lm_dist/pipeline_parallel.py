"""Pipeline parallelism with `torch.distributed.pipelining`.

A stage is a copy of the whole model with the other stages' blocks deleted, and
`tok_embeddings` kept only by the first stage, `norm`/`output` only by the last. Blocks
keep their global keys (`layers.5...`), so every stage's parameter names are the full
model's and DCP checkpoints do not depend on the split.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.distributed.pipelining import PipelineStage
from torch.distributed.pipelining.schedules import (
    PipelineScheduleMulti,
    PipelineScheduleSingle,
    get_schedule_class,
)

from lm_dist.config import ParallelConfig


def layer_split(n_layers: int, num_stages: int) -> list[list[int]]:
    """Contiguous blocks per stage, the first stages taking one more when uneven."""
    base, extra = divmod(n_layers, num_stages)
    out, start = [], 0
    for stage in range(num_stages):
        size = base + (1 if stage < extra else 0)
        out.append(list(range(start, start + size)))
        start += size
    return out


def stage_ids(pp_rank: int, parallel: ParallelConfig) -> list[int]:
    """The stages this pipeline rank runs: looped (r, r+pp, ...) or V-shaped for ZBV."""
    pp, per_rank = parallel.pp, parallel.num_stages // parallel.pp
    if parallel.pp_schedule == "ZBVZeroBubble":
        if per_rank != 2:
            raise ValueError("parallel.stages_per_rank must be 2 for ZBVZeroBubble")
        return [pp_rank, 2 * pp - 1 - pp_rank]
    return [pp_rank + i * pp for i in range(per_rank)]


def split_stage(model: nn.Module, stage: int, num_stages: int) -> nn.Module:
    """A copy of `model` (best on the meta device) holding only `stage`'s share."""
    keep = {str(i) for i in layer_split(model.config.n_layers, num_stages)[stage]}
    part = copy.deepcopy(model)
    for key in list(part.layers.keys()):
        if key not in keep:
            del part.layers[key]
    if stage != 0:
        part.tok_embeddings = None
    if stage != num_stages - 1:
        part.norm = None
        part.output = None
    return part


def build_schedule(parts: list[nn.Module], ids: list[int], parallel: ParallelConfig, *,
                   device: torch.device, group, loss_fn: Callable) -> object:
    """Pipeline stages for `parts` and the configured schedule driving them."""
    stages = [PipelineStage(part, stage_index=i, num_stages=parallel.num_stages, device=device,
                            group=group) for part, i in zip(parts, ids, strict=True)]
    name = {"1F1B": "1F1B", "GPipe": "GPipe"}.get(parallel.pp_schedule, parallel.pp_schedule)
    cls = get_schedule_class(name)
    n_micro = parallel.microbatches
    if issubclass(cls, PipelineScheduleSingle):
        if len(stages) != 1:
            raise ValueError(f"parallel.pp_schedule {parallel.pp_schedule} runs one stage per rank")
        return cls(stages[0], n_microbatches=n_micro, loss_fn=loss_fn)
    assert issubclass(cls, PipelineScheduleMulti)
    return cls(stages, n_microbatches=n_micro, loss_fn=loss_fn)


__all__ = ["build_schedule", "layer_split", "split_stage", "stage_ids"]
