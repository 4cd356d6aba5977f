import math

import pytest
import torch
import torch.nn.functional as F

from lm_model import ModelConfig, Transformer, apply_rope
from lm_model.model import rope_table


@pytest.mark.wheel
def test_logits_are_causal(debug_model):
    """Changing tokens from position t on never changes logits before t."""
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 512, (2, 40), generator=g)
    y = x.clone()
    y[:, 25:] = torch.randint(0, 512, (2, 15), generator=g)
    with torch.no_grad():
        a, b = debug_model(x), debug_model(y)
    torch.testing.assert_close(a[:, :25], b[:, :25], rtol=0, atol=1e-6)
    assert not torch.allclose(a[:, 25:], b[:, 25:])


def _reference_attention(attn, x, theta):
    """Plain multi-head attention written independently: explicit softmax, complex RoPE."""
    bsz, t, _ = x.shape
    hd = attn.head_dim
    q = (x @ attn.wq.weight.T).view(bsz, t, -1, hd)
    k = (x @ attn.wk.weight.T).view(bsz, t, -1, hd)
    v = (x @ attn.wv.weight.T).view(bsz, t, -1, hd)
    k = k.repeat_interleave(q.shape[2] // k.shape[2], dim=2)
    v = v.repeat_interleave(q.shape[2] // v.shape[2], dim=2)
    # Rotate-half RoPE is complex multiplication of (x[i], x[i + hd/2]) by e^{i·pos·freq}.
    freqs = theta ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    rot = torch.polar(torch.ones(t, hd // 2, dtype=torch.float64),
                      torch.outer(torch.arange(t, dtype=torch.float64), freqs))

    def rope(z):
        zc = (
            torch.complex(z[..., : hd // 2].double(), z[..., hd // 2 :].double())
            * rot[None, :, None]
        )
        return torch.cat([zc.real, zc.imag], dim=-1).float()

    q, k = rope(q), rope(k)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(hd)
    scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    out = torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v).reshape(bsz, t, -1)
    return out @ attn.wo.weight.T


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])
def test_attention_matches_plain_multi_head_attention(n_kv_heads):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=64, dim=64, n_layers=1, n_heads=4, n_kv_heads=n_kv_heads,
                      max_seq_len=32, rope_theta=10_000.0)
    attn = Transformer(cfg).layers["0"].attention
    x = torch.randn(2, 24, 64)
    cos, sin = rope_table(cfg)[:24].unbind(1)
    with torch.no_grad():
        ours, ref = attn(x, cos, sin), _reference_attention(attn, x, cfg.rope_theta)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)


def test_gqa_equals_mha_with_repeated_kv_heads():
    torch.manual_seed(0)
    gqa_cfg = ModelConfig(
        vocab_size=64, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=32
    )
    mha_cfg = ModelConfig(
        vocab_size=64, dim=64, n_layers=2, n_heads=4, n_kv_heads=4, max_seq_len=32
    )
    gqa, mha = Transformer(gqa_cfg), Transformer(mha_cfg)
    state = gqa.state_dict()
    hd = gqa_cfg.head_dim
    for name, w in list(state.items()):
        if name.endswith(("attention.wk.weight", "attention.wv.weight")):
            state[name] = w.view(2, hd, -1).repeat_interleave(2, dim=0).reshape(4 * hd, -1)
    mha.load_state_dict(state)
    x = torch.randint(0, 64, (2, 20))
    with torch.no_grad():
        torch.testing.assert_close(gqa(x), mha(x), rtol=1e-5, atol=1e-5)


def test_rope_scores_depend_only_on_relative_position():
    cfg = ModelConfig(dim=64, n_heads=4, max_seq_len=128)
    cos, sin = rope_table(cfg).unbind(1)
    g = torch.Generator().manual_seed(0)
    q = torch.randn(1, 1, 1, 16, generator=g).expand(1, 128, 1, 16)
    k = torch.randn(1, 1, 1, 16, generator=g).expand(1, 128, 1, 16)
    rq, rk = apply_rope(q, cos, sin)[0, :, 0], apply_rope(k, cos, sin)[0, :, 0]
    scores = rq @ rk.T  # scores[m, n] = <q at m, k at n>
    for offset in (0, 3, 17):
        diag = torch.diagonal(scores, offset=-offset)
        torch.testing.assert_close(diag, diag[:1].expand_as(diag), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(scores[10, 10], scores[10, 3])
    # And the rotation keeps norms: it is a rotation.
    torch.testing.assert_close(rq.norm(dim=-1), q[0, :, 0].norm(dim=-1))


@pytest.mark.parametrize("overrides", [{}, dict(tie_embeddings=True), dict(qk_norm=True),
                                       dict(n_kv_heads=4, ffn_hidden_dim=100)])
def test_parameter_count_matches_analytic_formula(overrides):
    cfg = ModelConfig.from_preset("debug", **overrides)
    v, d, L, h, kv, f = (cfg.vocab_size, cfg.dim, cfg.n_layers, cfg.n_heads,
                         cfg.n_kv_heads, cfg.hidden_dim)
    hd = d // h
    per_block = d * h * hd + 2 * d * kv * hd + h * hd * d + 3 * d * f + 2 * d
    per_block += 2 * hd if cfg.qk_norm else 0
    expected = v * d + L * per_block + d + (0 if cfg.tie_embeddings else v * d)
    model = Transformer(cfg)
    assert model.num_params() == expected == cfg.num_params()
    assert model.num_params(exclude_embeddings=True) == expected - v * d


def test_pipeline_stages_compose_to_the_whole_model(debug_model):
    """Stages with tok_embeddings/norm/output removed chain to the same logits."""
    cfg = debug_model.config
    first, last = Transformer(cfg), Transformer(cfg)
    first.load_state_dict(debug_model.state_dict())
    last.load_state_dict(debug_model.state_dict())
    del first.layers["1"]
    del last.layers["0"]
    first.norm = first.output = None
    last.tok_embeddings = None
    assert next(n for n, _ in last.named_parameters()).startswith("layers.1.")
    x = torch.randint(0, cfg.vocab_size, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(last(first(x)), debug_model(x))


def test_meta_init_then_materialise_keeps_ties_and_rope(debug_config):
    cfg = ModelConfig.from_preset("debug", tie_embeddings=True)
    with torch.device("meta"):
        model = Transformer(cfg)
    model.to_empty(device="cpu")
    model.init_weights(buffer_device="cpu")
    assert model.output.weight is model.tok_embeddings.weight
    torch.testing.assert_close(model.rope_cache, rope_table(cfg))
    assert torch.isfinite(model(torch.zeros(1, 4, dtype=torch.long))).all()


def test_scaled_init_and_residual_variance():
    torch.manual_seed(0)
    cfg = ModelConfig.from_preset("debug", n_layers=8)
    model = Transformer(cfg)
    wq = model.layers["0"].attention.wq.weight
    wo = model.layers["0"].attention.wo.weight
    assert abs(wq.std().item() - 0.02) < 0.003
    assert abs(wo.std().item() - 0.02 / math.sqrt(16)) < 0.001
    assert model.layers["0"].attention_norm.weight.eq(1).all()


def test_too_long_sequence_is_refused(debug_model):
    with pytest.raises(ValueError, match="max_seq_len"):
        debug_model(torch.zeros(1, debug_model.config.max_seq_len + 1, dtype=torch.long))


def test_loss_at_init_is_near_uniform(debug_model):
    x = torch.randint(0, 512, (4, 64))
    with torch.no_grad():
        loss = F.cross_entropy(debug_model(x).flatten(0, 1), x.flatten())
    assert abs(loss.item() - math.log(512)) < 0.1
