import math

import pytest
import torch

from lm_dist.config import OptimizerConfig, ScheduleConfig
from lm_dist.optim import build_optimizer, build_scheduler, clip_grad_norm_, lr_factor
from lm_model import ModelConfig, Transformer


def _lrs(cfg: ScheduleConfig, total: int, peak: float = 1e-3) -> list[float]:
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    sched = build_scheduler(opt, cfg, total)
    lrs = []
    for _ in range(total + 1):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return lrs


def test_warmup_then_cosine_to_ten_percent():
    peak, warmup, total = 1e-3, 100, 1100
    lrs = _lrs(ScheduleConfig(warmup_steps=warmup), total, peak)
    assert lrs[0] == pytest.approx(peak / warmup)  # step 0 already trains
    assert lrs[49] == pytest.approx(peak * 50 / warmup)
    assert lrs[warmup] == pytest.approx(peak)  # end of warmup: the peak
    middle = warmup + (total - warmup) // 2
    assert lrs[middle] == pytest.approx(peak * (0.1 + 0.9 * 0.5))  # cos(pi/2) = 0
    quarter = warmup + (total - warmup) // 4
    assert lrs[quarter] == pytest.approx(peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4))))
    assert lrs[total] == pytest.approx(0.1 * peak)  # the floor
    assert all(a >= b for a, b in zip(lrs[warmup:], lrs[warmup + 1:], strict=False))


def test_floor_and_shapes_are_configurable():
    assert lr_factor(1000, warmup_steps=0, total_steps=1000,
                     cfg=ScheduleConfig(min_lr_ratio=0.0)) == pytest.approx(0.0)
    linear = ScheduleConfig(warmup_steps=0, decay="linear", min_lr_ratio=0.2)
    assert lr_factor(50, warmup_steps=0, total_steps=100, cfg=linear) == pytest.approx(0.6)
    const = ScheduleConfig(warmup_steps=10, decay="constant")
    assert lr_factor(99, warmup_steps=10, total_steps=100, cfg=const) == 1.0
    assert ScheduleConfig().warmup_steps == 2000 and ScheduleConfig().min_lr_ratio == 0.1


def test_no_weight_decay_on_norms_and_embeddings():
    model = Transformer(ModelConfig.from_preset("debug"))
    opt = build_optimizer(model, OptimizerConfig(weight_decay=0.1))
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    plain = {names[id(p)] for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    assert "tok_embeddings.weight" in plain and "norm.weight" in plain
    assert "layers.0.attention_norm.weight" in plain
    assert "layers.0.attention.wq.weight" in decayed and "output.weight" in decayed
    assert not any("norm" in n or "embeddings" in n for n in decayed)
    assert opt.defaults["foreach"] is True  # CPU: foreach


def test_clipping_matches_torch_and_only_measures_at_zero():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(5, 3)) for _ in range(3)]
    for p in params:
        p.grad = torch.randn_like(p) * 3
    expected = torch.cat([p.grad.flatten() for p in params]).norm()
    assert clip_grad_norm_(params, 0.0) == pytest.approx(expected.item())
    assert torch.cat([p.grad.flatten() for p in params]).norm() == pytest.approx(expected.item())
    norm = clip_grad_norm_(params, 1.0)
    assert norm == pytest.approx(expected.item())
    assert torch.cat([p.grad.flatten() for p in params]).norm() == pytest.approx(1.0, rel=1e-5)
