"""Scoring arithmetic checked against a direct forward pass of the model."""

from __future__ import annotations

import math

import pytest
import torch

from lm_evaluate import Scorer, TokenRequest, bits_per_byte, load_model_dir, perplexity


@pytest.fixture(scope="module")
def scorer(model_dir) -> Scorer:
    model, tok = load_model_dir(model_dir, device="cpu")
    return Scorer(model, tok, batch_size=3)


def _direct_logprob(scorer: Scorer, context: list[int], continuation: list[int]) -> float:
    ids = torch.tensor([(context + continuation)[:-1]])
    with torch.no_grad():
        logp = scorer.model(ids)[0].float().log_softmax(-1)
    return sum(logp[len(context) - 1 + i, t].item() for i, t in enumerate(continuation))


def test_batched_padded_loglikelihood_equals_one_at_a_time(scorer):
    texts = ["First Citizen:", "Before we proceed any further, hear me speak.", "All:", "Speak, speak."]
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
    (_, greedy), (_, not_greedy) = scorer.loglikelihood([TokenRequest(ctx, [best]), TokenRequest(ctx, [worst])])
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
    doc = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak. ½ — é"
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


def test_sliding_windows_with_overlap_score_at_least_as_well_as_disjoint_ones(scorer, data_dir):
    """More context never hurts much: overlapping windows give a finite, comparable NLL."""
    text = (data_dir / "pretrain" / "tinyshakespeare.txt").read_text()[:6000]
    ids = scorer.encode(text)
    disjoint = scorer.rolling_nll(ids, stride=scorer.max_length)
    overlapping = scorer.rolling_nll(ids, stride=scorer.max_length // 4)
    assert math.isfinite(disjoint) and math.isfinite(overlapping)
    assert overlapping == pytest.approx(disjoint, rel=0.05)


def test_bad_requests_are_refused(scorer):
    with pytest.raises(ValueError, match="non-empty context"):
        scorer.loglikelihood([TokenRequest([], [5])])
    with pytest.raises(ValueError, match="stride"):
        scorer.rolling_windows([1, 2, 3], stride=scorer.max_length + 1)
