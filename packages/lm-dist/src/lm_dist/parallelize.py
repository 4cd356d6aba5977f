"""Apply parallelism to an lm-model `Transformer` (or a pipeline stage of one) from outside.

The order is torchtitan's: tensor parallel first (it changes parameters into DTensors over
the tp mesh), then activation checkpointing and per-block compile (they wrap the
computation, not the parameters), then FSDP2 last (it shards whatever parameters it finds,
TP-sharded ones included, into 2-D DTensors). Parameter names never change, so DCP
checkpoints load into any layout.
"""

from __future__ import annotations

import functools
import logging

import torch
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import Replicate, Shard
from torch.distributed.tensor.parallel import (
    ColwiseParallel,
    PrepareModuleInput,
    RowwiseParallel,
    SequenceParallel,
    parallelize_module,
)

from lm_dist.mesh import Mesh

logger = logging.getLogger(__name__)


def apply_tp(model: nn.Module, tp_mesh: DeviceMesh, *, loss_parallel: bool) -> None:
    """Megatron-style TP with sequence parallel: the residual stream is sharded on the
    sequence between blocks, all-gathered into attention/FFN, reduce-scattered out."""
    top: dict[str, object] = {}
    if model.tok_embeddings is not None:
        top["tok_embeddings"] = RowwiseParallel(input_layouts=Replicate(), output_layouts=Shard(1))
    if model.norm is not None:
        top["norm"] = SequenceParallel()
    if model.output is not None:
        top["output"] = ColwiseParallel(
            input_layouts=Shard(1),
            output_layouts=Shard(-1) if loss_parallel else Replicate(),
            use_local_output=not loss_parallel,
        )
    if top:
        parallelize_module(model, tp_mesh, top)
    if (
        model.config.tie_embeddings
        and model.tok_embeddings is not None
        and model.output is not None
    ):
        # parallelize_module swaps each module's weight for its own DTensor, untying them.
        # Both plans shard the vocabulary dimension (Shard(0)) on the same mesh, so the
        # embedding's DTensor can serve as the head's weight: one parameter, one gradient.
        model.output.weight = model.tok_embeddings.weight
    for block in model.layers.values():
        # Attention.forward(x, cos, sin, cache, layer): only x is a sharded activation.
        plan = {
            "attention_norm": SequenceParallel(),
            "attention": PrepareModuleInput(
                input_layouts=(Shard(1), None, None, None, None),
                desired_input_layouts=(Replicate(), None, None, None, None),
            ),
            "attention.wq": ColwiseParallel(),
            "attention.wk": ColwiseParallel(),
            "attention.wv": ColwiseParallel(),
            "attention.wo": RowwiseParallel(output_layouts=Shard(1)),
            "ffn_norm": SequenceParallel(),
            "feed_forward": PrepareModuleInput(
                input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),)),
            "feed_forward.w1": ColwiseParallel(),
            "feed_forward.w2": RowwiseParallel(output_layouts=Shard(1)),
            "feed_forward.w3": ColwiseParallel(),
        }
        if block.attention.q_norm is not None:
            raise ValueError("tensor parallelism with qk_norm is not supported: the per-head "
                             "norms would need their own plan")
        parallelize_module(block, tp_mesh, plan)


def _check_tp_shapes(model: nn.Module, tp: int) -> None:
    config = model.config
    for name in ("n_heads", "n_kv_heads"):
        if getattr(config, name) % tp:
            raise ValueError(
                f"parallel.tp {tp} must divide the model's {name} ({getattr(config, name)})"
            )
    if config.hidden_dim % tp or config.vocab_size % tp:
        raise ValueError(f"parallel.tp {tp} must divide hidden_dim ({config.hidden_dim}) and "
                         f"vocab_size ({config.vocab_size})")


def apply_ac(model: nn.Module) -> None:
    """Wrap each block so backward recomputes its activations (names are kept by the wrapper's
    state-dict hooks and by DCP's FQN handling)."""
    for key, block in list(model.layers.items()):
        model.layers[key] = checkpoint_wrapper(block, preserve_rng_state=False)


def apply_compile(model: nn.Module) -> None:
    """Compile each block in place (`Module.compile` keeps parameter names, unlike a wrapper).
    Blocks share one shape, so Dynamo compiles once and reuses the graph."""
    for block in model.layers.values():
        block.compile(fullgraph=True)


def apply_fsdp(model: nn.Module, dp_mesh: DeviceMesh, *, param_dtype: torch.dtype | None,
               reduce_dtype: torch.dtype | None, reshard_after_forward: bool) -> None:
    """FSDP2 units as torchtitan cuts them: the embedding alone, one unit per block, the final
    norm with the head, and the root for what is left.

    The vocabulary matrices are the largest; in their own units they are gathered only
    around their own use instead of for the whole step. The norm and head are used last in
    forward and first in backward, so they stay gathered in between. A tied head is the
    embedding's parameter and FSDP2 gives a parameter to one unit only, so tied models keep
    embedding, norm and head in the root, which is gathered for the whole step anyway.
    """
    mp = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    shard = functools.partial(fully_shard, mesh=dp_mesh, mp_policy=mp)
    tied = model.config.tie_embeddings
    if model.tok_embeddings is not None and not tied:
        shard(model.tok_embeddings, reshard_after_forward=reshard_after_forward)
    for block in model.layers.values():
        shard(block, reshard_after_forward=reshard_after_forward)
    if model.norm is not None and model.output is not None and not tied:
        shard([model.norm, model.output], reshard_after_forward=False)
    shard(model, reshard_after_forward=reshard_after_forward)


def parallelize(model: nn.Module, *, mesh: Mesh, param_dtype: torch.dtype | None = None,
                reduce_dtype: torch.dtype | None = None, activation_checkpoint: bool = False,
                compile: bool = False, loss_parallel: bool = True,
                pipelined: bool = False) -> nn.Module:
    """TP → activation checkpointing → per-block compile → FSDP2, each where it applies.

    `param_dtype`/`reduce_dtype` are FSDP2's mixed-precision policy (bf16 compute, fp32
    gradient reduction); without FSDP the trainer uses autocast instead. Pipeline stages
    keep their parameters unsharded between micro-batches (`pipelined`), as re-gathering
    them for every micro-batch costs more than the memory saved.
    """
    if mesh.tp_mesh is not None:
        _check_tp_shapes(model, mesh.parallel.tp)
        apply_tp(model, mesh.tp_mesh, loss_parallel=loss_parallel)
    if activation_checkpoint:
        apply_ac(model)
    if compile:
        apply_compile(model)
    if mesh.dp_mesh is not None:
        apply_fsdp(model, mesh.dp_mesh, param_dtype=param_dtype, reduce_dtype=reduce_dtype,
                   reshard_after_forward=not pipelined)
    return model


__all__ = ["apply_ac", "apply_compile", "apply_fsdp", "apply_tp", "parallelize"]
