"""The scorer's largest logits tensor is bounded, however long and many the windows."""

from __future__ import annotations

import pytest
import torch

from lm_evaluate import Scorer
from lm_model.hf import load_dir


def _largest_logits(scorer: Scorer, run) -> tuple[object, int]:
    sizes: list[int] = []
    hook = scorer.model.output.register_forward_hook(lambda m, i, out: sizes.append(out.numel()))
    try:
        result = run()
    finally:
        hook.remove()
    return result, max(sizes)


def test_logits_are_bounded_and_scores_unchanged(model_dir):
    model, tok = load_dir(model_dir, device="cpu")
    vocab, window = model.config.vocab_size, model.config.max_seq_len
    ids = [10 + i % (vocab - 10) for i in range(4 * window)]  # four full windows, one batch
    bound = 8 * vocab  # a head call may cover at most 8 positions
    small = Scorer(model, tok, batch_size=16, max_logit_elements=bound)
    nll, largest = _largest_logits(small, lambda: small.rolling_nll(ids))
    assert largest <= bound
    # The default bound is far above this model's whole batch: one head call, same answer.
    whole = Scorer(model, tok, batch_size=16)
    ref, largest_default = _largest_logits(whole, lambda: whole.rolling_nll(ids))
    assert largest_default == 4 * window * vocab
    assert nll == pytest.approx(ref, rel=1e-5)
    # And both equal a direct full forward pass.
    seq = torch.tensor([[whole.bos_id, *ids]])
    direct = 0.0
    with torch.no_grad():
        for start in range(0, len(ids), window):
            x = seq[:, start:start + window]
            y = seq[0, start + 1:start + 1 + window]
            direct -= model(x)[0].log_softmax(-1).gather(-1, y[:, None]).sum().item()
    assert nll == pytest.approx(direct, rel=1e-5)
