import pytest

from lm_model import PRESETS, ModelConfig, RopeScaling


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (dict(dim=66, n_heads=4), "n_heads"),
        (dict(n_heads=4, n_kv_heads=3), "n_kv_heads"),
        (dict(dim=60, n_heads=4), "head_dim"),  # 15 is odd: RoPE rotates pairs
        (dict(vocab_size=0), "vocab_size"),
        (dict(n_layers=-1), "n_layers"),
        (dict(max_seq_len=2.5), "max_seq_len"),
        (dict(norm_eps=0.0), "norm_eps"),
        (dict(init_std=float("nan")), "init_std"),
        (dict(ffn_hidden_dim=0), "ffn_hidden_dim"),
        (dict(ffn_dim_multiplier=-1.0), "ffn_dim_multiplier"),
        (dict(rope_scaling=dict(factor=0.5)), "rope_scaling.factor"),
        (dict(rope_scaling=dict(low_freq_factor=4.0, high_freq_factor=1.0)), "low_freq_factor"),
    ],
)
def test_impossible_configs_name_the_field(overrides, field):
    base = dict(vocab_size=100, dim=64, n_layers=2, n_heads=4)
    with pytest.raises(ValueError, match=field):
        ModelConfig(**{**base, **overrides})


def test_unknown_fields_and_presets_are_rejected_by_name():
    with pytest.raises(ValueError, match="n_layer"):
        ModelConfig.from_dict({"n_layer": 2})
    with pytest.raises(ValueError, match="'huge'"):
        ModelConfig.from_preset("huge")


def test_kv_heads_default_to_heads_and_rope_scaling_dicts_become_dataclasses():
    c = ModelConfig(dim=64, n_heads=4, rope_scaling={"factor": 4.0})
    assert c.n_kv_heads == 4
    assert c.rope_scaling == RopeScaling(factor=4.0)


def test_llama_ffn_width_rule():
    # Llama 3 8B: 4096 wide, multiplier 1.3, multiple_of 1024 -> 14336; 3.2 1B -> 8192.
    assert ModelConfig.from_preset("8b").hidden_dim == 14336
    assert ModelConfig.from_preset("1b").hidden_dim == 8192
    assert ModelConfig(dim=64, n_heads=4, ffn_hidden_dim=100).hidden_dim == 100


def test_presets_have_the_documented_sizes():
    sizes = {name: ModelConfig.from_preset(name).num_params() for name in PRESETS}
    assert sizes["8b"] == 8_030_261_248  # Llama 3.1 8B, as published
    assert sizes["1b"] == 1_235_814_400  # Llama 3.2 1B, as published
    assert 9e6 < sizes["tiny"] < 11e6
    assert 115e6 < sizes["small"] < 135e6
    assert sizes["debug"] < 1e6


def test_flops_per_token_is_six_n_plus_attention():
    c = ModelConfig.from_preset("small")
    n = c.num_params() - c.vocab_size * c.dim  # the lookup table is no matmul
    attn = 12 * c.n_layers * c.n_heads * c.head_dim * 1024
    assert c.flops_per_token(1024) == 6 * n + attn
    tied = ModelConfig.from_preset("1b")
    # Tied: the head still multiplies by the shared matrix, so it counts once.
    assert tied.flops_per_token(0) == 6 * tied.num_params()
