"""Scoring arithmetic checked against a direct forward pass of the model."""

from __future__ import annotations

import math

import pytest
import torch

from lm_evaluate import Scorer, TokenRequest, bits_per_byte, perplexity
from lm_model.hf import load_dir


@pytest.fixture(scope="module")
def scorer(model_dir) -> Scorer:
    model, tok = load_dir(model_dir, device="cpu")
    return Scorer(model, tok, batch_size=3)


def _direct_logprob(scorer: Scorer, context: list[int], continuation: list[int]) -> float:
    ids = torch.tensor([(context + continuation)[:-1]])
    with torch.no_grad():
        logp = scorer.model(ids)[0].float().log_softmax(-1)
    return sum(logp[len(context) - 1 + i, t].item() for i, t in enumerate(continuation))


def test_batched_padded_loglikelihood_equals_one_at_a_time(scorer):
    texts = [
        "First Citizen:",
        "Before we proceed any further, hear me speak.",
        "All:",
        "Speak, speak.",
    ]
    reqs = [scorer.encode_pair(t, " You are all resolved") for t in texts]
    reqs.append(reqs[0])  # a duplicate shares its forward pass and gets the same answer
    batched = scorer.loglikelihood(reqs)
    for req, (lp, greedy) in zip(reqs, batched, strict=True):
        assert lp == pytest.approx(_direct_logprob(scorer, req.context, req.continuation), abs=1e-4)
        assert isinstance(greedy, bool)
    assert batched[0] == batched[-1]


def test_greedy_flag_is_true_for_the_argmax_continuation(scorer):
    ctx = [scorer.bos_id, *scorer.encode("First Citizen:")]
    with torch.no_grad():
        best = int(scorer.model(torch.tensor([ctx]))[0, -1].argmax())
    worst = int(scorer.model(torch.tensor([ctx]))[0, -1].argmin())
    (_, greedy), (_, not_greedy) = scorer.loglikelihood(
        [TokenRequest(ctx, [best]), TokenRequest(ctx, [worst])]
    )
    assert greedy and not not_greedy


def test_long_inputs_lose_their_oldest_tokens_not_the_continuation(scorer):
    ctx = [scorer.bos_id, *(10 + i % 500 for i in range(2 * scorer.max_length))]
    (lp, _), = scorer.loglikelihood([TokenRequest(ctx, [7, 8])])
    kept = ctx[-(scorer.max_length - 1):]
    assert lp == pytest.approx(_direct_logprob(scorer, kept, [7, 8]), abs=1e-4)


@pytest.mark.parametrize("stride", [None, 100, 37])
def test_rolling_windows_score_every_token_once(scorer, stride):
    ids = [10 + i % 500 for i in range(1300)]
    windows = scorer.rolling_windows(ids, stride)
    scored = [t for w in windows for t in w.continuation]
    assert scored == ids
    assert all(len(w.context) + len(w.continuation) - 1 <= scorer.max_length for w in windows)


def test_bits_per_byte_matches_a_hand_computation(scorer):
    doc = (
        "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak. ½ — é"
    )
    ids = scorer.encode(doc)
    seq = torch.tensor([[scorer.bos_id, *ids]])
    with torch.no_grad():
        logp = scorer.model(seq)[0].float().log_softmax(-1)
    nll = -sum(logp[i, t].item() for i, t in enumerate(ids))  # position i predicts token i+1
    n_bytes = len(doc.encode("utf-8"))
    metrics = perplexity(scorer, [doc])
    assert metrics["bytes"] == n_bytes and metrics["tokens"] == len(ids)
    assert metrics["nll_nats"] == pytest.approx(nll, rel=1e-5)
    assert metrics["bits_per_byte"] == pytest.approx(nll / (math.log(2) * n_bytes), rel=1e-5)
    assert bits_per_byte(math.log(2) * 10, 5) == pytest.approx(2.0)
    assert metrics["token_perplexity"] == pytest.approx(math.exp(nll / len(ids)))


def _trained_scorer(model_dir, data_dir, *, window: int, steps: int) -> Scorer:
    """The fixture model after `steps` AdamW steps on Shakespeare (past the evaluated part) in
    `window`-token sequences, scoring `window`-token windows."""
    model, tok = load_dir(model_dir, device="cpu")
    text = (data_dir / "pretrain" / "tinyshakespeare.txt").read_text()[100_000:400_000]
    ids = torch.tensor(tok.encode(text))
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - window - 1, (16,), generator=g)
        batch = torch.stack([ids[s : s + window + 1] for s in starts])
        loss = torch.nn.functional.cross_entropy(
            model(batch[:, :-1]).flatten(0, 1), batch[:, 1:].flatten()
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    return Scorer(model.eval(), tok, batch_size=3, max_length=window)


# Measured on the first 6,000 characters (2,593 tokens) in 64-token windows: for the untrained
# fixture model overlapping windows are 0.5 nats better than disjoint ones (16,622.1 vs 16,622.6,
# noise); after 200 steps 42.9 nats better (10,617.5 vs 10,660.3), as each disjoint window's first
# tokens lose their context. The bar lies between.
CONTEXT_GAIN_NATS = 15.0


@pytest.mark.slow
def test_sliding_windows_with_overlap_score_better_than_disjoint_ones_on_a_trained_model(
    model_dir, data_dir
):
    """More context helps a model that has learned something: overlapping windows (stride 16 of 64)
    give every token at least 48 tokens of context, disjoint ones restart from nothing."""
    text = (data_dir / "pretrain" / "tinyshakespeare.txt").read_text()[:6000]
    trained = _trained_scorer(model_dir, data_dir, window=64, steps=200)
    ids = trained.encode(text)
    disjoint = trained.rolling_nll(ids, stride=64)
    overlapping = trained.rolling_nll(ids, stride=16)
    print(
        f"\ntrained, 64-token windows: disjoint {disjoint:.1f} nats, overlapping {overlapping:.1f}"
    )
    assert overlapping < disjoint - CONTEXT_GAIN_NATS


def test_bad_requests_are_refused(scorer):
    with pytest.raises(ValueError, match="non-empty context"):
        scorer.loglikelihood([TokenRequest([], [5])])
    with pytest.raises(ValueError, match="stride"):
        scorer.rolling_windows([1, 2, 3], stride=scorer.max_length + 1)
