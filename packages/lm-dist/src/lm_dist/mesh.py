"""Process group setup and the named device mesh (pp, dp_replicate, dp_shard, tp).

Ranks are laid out with tp innermost (tensor-parallel peers are neighbours, on one node
when tp <= GPUs per node), then dp_shard, dp_replicate and pp outermost, as in torchtitan.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

from lm_dist.config import ParallelConfig

logger = logging.getLogger(__name__)

MESH_DIMS = ("pp", "dp_replicate", "dp_shard", "tp")


def pick_device(kind: str = "auto") -> torch.device:
    """CUDA (this rank's local GPU) when asked for or available, else CPU."""
    if kind == "cuda" or (kind == "auto" and torch.cuda.is_available()):
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        count = torch.cuda.device_count()
        if local_rank >= count:
            # Two ranks cannot share one GPU under NCCL: say so before init_process_group hangs.
            raise ValueError(f"train.device={kind!r}: LOCAL_RANK {local_rank} but this host has "
                             f"{count} CUDA device(s); start at most {count} processes per node "
                             "or set train.device = \"cpu\"")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(device: torch.device) -> int:
    """Join the process group torchrun describes (nccl on CUDA, gloo on CPU); return world size.

    A process started without torchrun (no WORLD_SIZE) trains alone and needs no group.
    """
    if dist.is_initialized():
        return dist.get_world_size()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 1
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    logger.info("rank %d/%d joined with %s", dist.get_rank(), world, backend)
    return world


@dataclass(kw_only=True)
class Mesh:
    """The device mesh and the groups the trainer needs, or None where a dimension is 1."""

    mesh: DeviceMesh | None
    parallel: ParallelConfig
    device: torch.device

    def sub(self, *names: str) -> DeviceMesh | None:
        """The sub-mesh over the named dimensions, or None when they all have size 1."""
        sizes = {"pp": self.parallel.pp, "dp_replicate": self.parallel.dp_replicate,
                 "dp_shard": self.parallel.dp_shard, "tp": self.parallel.tp}
        if self.mesh is None or all(sizes[n] == 1 for n in names):
            return None
        return self.mesh[names]

    @property
    def dp_mesh(self) -> DeviceMesh | None:
        """(dp_replicate, dp_shard) for FSDP2/HSDP."""
        if self.parallel.dp == 1:
            return None
        if self.parallel.dp_replicate == 1:
            return self.mesh["dp_shard"]
        return self.mesh["dp_replicate", "dp_shard"]

    @property
    def tp_mesh(self) -> DeviceMesh | None:
        return self.sub("tp")

    @property
    def pp_group(self) -> dist.ProcessGroup | None:
        return None if self.parallel.pp == 1 else self.mesh.get_group("pp")

    def local_rank(self, name: str) -> int:
        return 0 if self.mesh is None else self.mesh.get_local_rank(name)

    @property
    def dp_rank(self) -> int:
        """This rank's index among the ranks that read different data."""
        return self.local_rank("dp_replicate") * self.parallel.dp_shard + self.local_rank(
            "dp_shard"
        )


def build_mesh(parallel: ParallelConfig, device: torch.device) -> Mesh:
    """Resolve `parallel` against the world size and build the 4-D named mesh."""
    world = dist.get_world_size() if dist.is_initialized() else 1
    parallel = parallel.resolved(world)
    if world == 1:
        return Mesh(mesh=None, parallel=parallel, device=device)
    shape = (parallel.pp, parallel.dp_replicate, parallel.dp_shard, parallel.tp)
    mesh = init_device_mesh(device.type, shape, mesh_dim_names=MESH_DIMS)
    return Mesh(mesh=mesh, parallel=parallel, device=device)


__all__ = ["MESH_DIMS", "Mesh", "build_mesh", "init_distributed", "pick_device"]
