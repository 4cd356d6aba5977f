"""DPO on hh-rlhf harmless pairs from a briefly pretrained tiny model: held-out preference
accuracy (implicit reward β·(log π - log π_ref) prefers chosen) rises from 0 to at least 0.6."""

from __future__ import annotations

import json

import pytest
from align_testdata import HH_RLHF

from lm_align import AlignDataConfig, DPORunConfig, TrainerConfig, preference_metrics, run_dpo
from lm_align.data import load_splits
from lm_align.hf_dir import load_model, load_tokenizer

pytestmark = pytest.mark.slow

# Measured: the run repeats exactly on one machine and thread count (0.672 twice on 1 thread, 0.681
# with the default threads); training seeds 1, 2, 3 give held-out reward accuracy 0.652-0.683 (trl)
# and 0.650-0.680 (our scorer, 103 pairs, standard error 0.046), reward margin 0.221-0.279. The bars
# sit below every run, and well above chance.
MIN_ACCURACY = 0.6
MIN_MARGIN = 0.15


def test_dpo_raises_held_out_preference_accuracy(pretrained, tmp_path):
    base, _ = pretrained
    cfg = DPORunConfig(
        model=base, output=tmp_path / "dpo", beta=0.1,
        data=AlignDataConfig(train=(HH_RLHF,), eval_fraction=0.1, max_train_examples=512,
                             max_eval_examples=192),
        train=TrainerConfig(learning_rate=5e-4, max_length=128, per_device_train_batch_size=8,
                            num_train_epochs=2, warmup_steps=0.05, logging_steps=8,
                            extra={"disable_tqdm": True}),
    )
    m = run_dpo(cfg)
    b, a = m["before"], m["after"]
    print(
        f"\nDPO held-out reward accuracy {b['reward_accuracy']:.3f} -> {a['reward_accuracy']:.3f}, "
        f"margin {b['reward_margin']:.4f} -> {a['reward_margin']:.4f}, "
        f"loss {b['loss']:.4f} -> {a['loss']:.4f}, "
        f"{m['data']['train_examples']} pairs in {m['train']['train_runtime']:.1f}s"
    )
    assert b["reward_accuracy"] == 0.0 and a["reward_accuracy"] >= MIN_ACCURACY
    assert a["reward_margin"] >= MIN_MARGIN > b["reward_margin"] and a["loss"] < b["loss"]
    assert json.loads((cfg.output / "metrics.json").read_text())["after"] == a
    # Recomputed from the saved directories with our own scorer: the policy prefers chosen.
    held = load_splits(cfg.data, "preference").eval
    ours = preference_metrics(
        load_model(cfg.output),
        load_model(base),
        load_tokenizer(cfg.output),
        held,
        beta=cfg.beta,
        max_length=128,
    )
    start = preference_metrics(load_model(base), load_model(base), load_tokenizer(base), held,
                               beta=cfg.beta, max_length=128)
    print(f"preference_metrics on the saved directories: {ours}; log-prob accuracy before "
          f"{start['logp_accuracy']:.3f}")
    assert start["reward_accuracy"] == 0.0
    assert ours["reward_accuracy"] >= MIN_ACCURACY and ours["reward_margin"] >= MIN_MARGIN
