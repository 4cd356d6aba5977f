import pytest
import torch

from lm_model import KVCache, generate, sample_next


@pytest.mark.wheel
def test_cached_greedy_equals_recomputing_the_full_sequence(debug_model):
    prompt = [5, 17, 300, 2, 99]
    cached = list(generate(debug_model, prompt, 40, temperature=0))
    uncached = list(generate(debug_model, prompt, 40, temperature=0, use_cache=False))
    assert len(cached) == 40
    assert cached == uncached


def test_cached_logits_equal_full_forward_including_chunked_prefill(debug_model):
    """Prefill, a multi-token chunk after a cached prefix, then single steps."""
    cfg = debug_model.config
    x = torch.randint(0, cfg.vocab_size, (2, 30), generator=torch.Generator().manual_seed(0))
    cache = KVCache(cfg, batch_size=2, max_len=30, dtype=torch.float32, device="cpu")
    with torch.no_grad():
        full = debug_model(x)
        parts = [debug_model(x[:, :10], cache), debug_model(x[:, 10:25], cache)]
        parts += [debug_model(x[:, i:i + 1], cache) for i in range(25, 30)]
    assert cache.pos == 30
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-5, atol=1e-5)


def test_sampling_is_reproducible_with_a_seed_and_varies_without(debug_model):
    kw = dict(temperature=1.0, top_k=50, top_p=0.95)
    a = list(generate(debug_model, [1, 2, 3], 30, seed=7, **kw))
    b = list(generate(debug_model, [1, 2, 3], 30, seed=7, **kw))
    c = list(generate(debug_model, [1, 2, 3], 30, seed=8, **kw))
    assert a == b
    assert a != c


def test_top_k_one_and_tiny_top_p_are_greedy(debug_model):
    greedy = list(generate(debug_model, [4, 8], 20, temperature=0))
    assert list(generate(debug_model, [4, 8], 20, temperature=1.5, top_k=1, seed=0)) == greedy
    assert list(generate(debug_model, [4, 8], 20, temperature=1.5, top_p=1e-6, seed=0)) == greedy


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    g = torch.Generator().manual_seed(0)
    seen = {int(sample_next(logits, top_p=0.75, generator=g)) for _ in range(300)}
    assert seen == {0, 1}  # 0.5 < 0.75 needs the 0.3 too; 0.8 >= 0.75 stops there


def test_top_k_restricts_support():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0]])
    g = torch.Generator().manual_seed(0)
    assert {int(sample_next(logits, top_k=2, generator=g)) for _ in range(200)} == {1, 2}


def test_streams_and_stops_at_a_stop_id(debug_model):
    free = list(generate(debug_model, [1, 2], 30, temperature=0))
    stop = free[5]
    stream = generate(debug_model, [1, 2], 30, temperature=0, stop_ids=[stop])
    assert next(stream) == free[0]  # a generator: tokens arrive one at a time
    rest = list(stream)
    assert [free[0], *rest] == free[: free.index(stop) + 1]


def test_stops_at_max_seq_len(debug_model, caplog):
    n = debug_model.config.max_seq_len
    out = list(generate(debug_model, list(range(n - 3)), 10, temperature=0))
    assert len(out) == 3
    assert "room for only 3" in caplog.text


@pytest.mark.parametrize("kw", [dict(temperature=-1), dict(top_k=0), dict(top_p=0.0),
                                dict(top_p=1.5)])
def test_bad_sampling_arguments_are_named(debug_model, kw):
    name = next(iter(kw))
    with pytest.raises(ValueError, match=name):
        list(generate(debug_model, [1], 5, **kw))


def test_empty_prompt_is_an_error(debug_model):
    with pytest.raises(ValueError, match="prompt_ids"):
        list(generate(debug_model, [], 5))
