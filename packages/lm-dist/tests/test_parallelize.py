"""How `parallelize` cuts a model into FSDP2 units (checked on 2 gloo ranks)."""

import torch
from lm_dist_ranks import run_on_ranks
from torch.distributed.fsdp import FSDPModule

from lm_dist.config import ParallelConfig
from lm_dist.mesh import build_mesh, init_distributed
from lm_dist.parallelize import parallelize
from lm_model import ModelConfig, Transformer


def _fsdp_units(tie: bool) -> dict[str, object]:
    device = torch.device("cpu")
    init_distributed(device)
    mesh = build_mesh(ParallelConfig(dp_shard=2), device)
    model = Transformer(ModelConfig.from_preset("debug", tie_embeddings=tie))
    parallelize(model, mesh=mesh)
    names = ("tok_embeddings", "norm", "output")
    return {
        "units": {n: isinstance(getattr(model, n), FSDPModule) for n in names},
        "tied": model.output.weight is model.tok_embeddings.weight,
        "root_params": sorted(n for n, _ in model.named_parameters()
                              if not n.startswith("layers.")),
    }


def test_vocabulary_matrices_get_their_own_units():
    """torchtitan's cut: embedding alone, norm with head; not everything in the root."""
    for result in run_on_ranks(2, _fsdp_units, False):
        assert result["units"] == {"tok_embeddings": True, "norm": True, "output": True}
        assert not result["tied"]


def test_tied_embeddings_stay_one_parameter_in_the_root():
    """FSDP2 gives a parameter to one unit: a tied head stays with its embedding."""
    for result in run_on_ranks(2, _fsdp_units, True):
        assert result["units"] == {"tok_embeddings": False, "norm": False, "output": False}
        assert result["tied"]
        assert result["root_params"] == ["norm.weight", "tok_embeddings.weight"]
