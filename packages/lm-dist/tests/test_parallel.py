"""Every parallel layout trains exactly like one process (float64, gloo, forked ranks).

Same seed, same global batch, clipping active: losses, pre-clip gradient norms and final
weights must agree with the single-process run to 1e-10 (they agree to ~1e-15).
"""

import pytest
import torch
from lm_dist_ranks import run_on_ranks
from lm_dist_testdata import make_cfg

from lm_dist.checkpoint import load_model
from lm_dist.config import PP_SCHEDULES
from lm_dist.trainer import train

TOL = 1e-10
STEPS = 3


def _train(cfg):
    result = train(cfg)
    return result.losses, result.grad_norms, result.val_losses


def _cfg(run_dir, shard_dir, val_dir, **kw):
    return make_cfg(run_dir, shard_dir, steps=STEPS, data={"val_path": str(val_dir)},
                    metrics={"val_batches": 2}, **kw)


# Tied runs key their reference by the layer count plus "tied".
TIED = "tied"


@pytest.fixture(scope="module")
def reference(shard_dir, val_dir, tmp_path_factory):
    """Single-process runs, by number of layers (and tied embeddings)."""
    runs = {}
    for key in (2, 4, (2, TIED)):
        n_layers, tied = (key[0], True) if isinstance(key, tuple) else (key, False)
        run_dir = tmp_path_factory.mktemp(f"single{n_layers}{'tied' if tied else ''}")
        result = train(_cfg(run_dir, shard_dir, val_dir, n_layers=n_layers, tie_embeddings=tied))
        runs[key] = (result, load_model(run_dir).state_dict())
    return runs


LAYOUTS = {
    # name: (world, parallel, per-rank batch, layers)
    "fsdp-dp_shard2": (2, {"dp_shard": 2}, 4, 2),
    "fsdp-dp_shard4": (4, {"dp_shard": 4}, 2, 2),
    "tp2": (2, {"dp_shard": 1, "tp": 2}, 8, 2),
    "pp2-1f1b": (2, {"dp_shard": 1, "pp": 2}, 8, 2),
    "pp2-interleaved1f1b": (2, {"dp_shard": 1, "pp": 2, "pp_schedule": "Interleaved1F1B",
                                "pp_microbatches": 4}, 8, 4),
    "pp2-zbv-zero-bubble": (2, {"dp_shard": 1, "pp": 2, "pp_schedule": "ZBVZeroBubble",
                                "pp_microbatches": 4}, 8, 4),
    "pp2-looped-bfs": (2, {"dp_shard": 1, "pp": 2, "pp_schedule": "LoopedBFS",
                           "pp_microbatches": 4}, 8, 4),
    "pp2-interleaved-zero-bubble": (2, {"dp_shard": 1, "pp": 2,
                                        "pp_schedule": "InterleavedZeroBubble",
                                        "pp_microbatches": 4}, 8, 4),
    "hsdp-replicate2-shard2": (4, {"dp_replicate": 2, "dp_shard": 2}, 2, 2),
    "fsdp2-x-tp2": (4, {"dp_shard": 2, "tp": 2}, 4, 2),
    "pp2-gpipe-x-tp2": (4, {"dp_shard": 1, "pp": 2, "tp": 2, "pp_schedule": "GPipe"}, 8, 4),
    "pp2-x-fsdp2-x-tp2-interleaved": (8, {"dp_shard": 2, "pp": 2, "tp": 2,
                                          "pp_schedule": "Interleaved1F1B"}, 4, 4),
    # Tied embeddings (the shipped 1b config: FSDP x TP). TP must keep the head and the
    # embedding one parameter, or the model trains an untied head.
    "tied-fsdp-dp_shard2": (2, {"dp_shard": 2}, 4, (2, TIED)),
    "tied-tp2": (2, {"dp_shard": 1, "tp": 2}, 8, (2, TIED)),
    "tied-fsdp2-x-tp2": (4, {"dp_shard": 2, "tp": 2}, 4, (2, TIED)),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_layout_matches_single_process(name, reference, shard_dir, val_dir, tmp_path):
    world, parallel, batch, key = LAYOUTS[name]
    n_layers, tied = (key[0], True) if isinstance(key, tuple) else (key, False)
    cfg = _cfg(tmp_path / name, shard_dir, val_dir, n_layers=n_layers, batch_size=batch,
               parallel=parallel, tie_embeddings=tied)
    results = run_on_ranks(world, _train, cfg)
    ref, ref_weights = reference[key]
    for losses, norms, val_losses in results:  # every rank reports the same global values
        if "zbv" not in name:  # ZBVZeroBubble's eval() is broken in torch; no val loss
            assert abs(val_losses[STEPS] - ref.val_losses[STEPS]) < TOL
        assert sorted(losses) == list(range(1, STEPS + 1))
        for step in losses:
            assert abs(losses[step] - ref.losses[step]) < TOL, (
                step,
                losses[step],
                ref.losses[step],
            )
            # Clipping is active (norm > max_grad_norm), so the weights depend on this norm.
            assert norms[step] > cfg.optim.max_grad_norm
            assert abs(norms[step] - ref.grad_norms[step]) < TOL
    weights = load_model(tmp_path / name).state_dict()
    assert weights.keys() == ref_weights.keys()
    for key, value in weights.items():
        assert value.dtype == torch.float64
        assert (value - ref_weights[key]).abs().max() < TOL, key


def test_every_shipped_schedule_has_a_parity_layout():
    tested = {parallel.get("pp_schedule", "1F1B") for _, parallel, _, _ in LAYOUTS.values()
              if parallel.get("pp", 1) > 1}
    assert tested == set(PP_SCHEDULES)
