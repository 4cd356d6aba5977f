"""SFT on a few hundred GSM8K pairs from a briefly pretrained tiny model: the held-out loss
falls, and the model learns to end its reply with <|eot|>."""

from __future__ import annotations

import json

import pytest
import torch
from align_testdata import GSM8K

from lm_align import AlignDataConfig, SFTRunConfig, TrainerConfig, run_sft, sft_loss
from lm_align.data import load_splits
from lm_align.hf_dir import load_model, load_tokenizer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sft_run(pretrained, tmp_path_factory):
    base, _ = pretrained
    cfg = SFTRunConfig(
        model=base, output=tmp_path_factory.mktemp("sft") / "out",
        data=AlignDataConfig(train=(GSM8K,), eval_fraction=0.02, max_train_examples=384,
                             max_eval_examples=48),
        train=TrainerConfig(learning_rate=3e-3, max_length=256, per_device_train_batch_size=8,
                            num_train_epochs=2, warmup_steps=0.05, logging_steps=10,
                            extra={"disable_tqdm": True}),
    )
    return cfg, run_sft(cfg)


def test_sft_lowers_the_held_out_loss(sft_run):
    cfg, m = sft_run
    print(
        f"\nSFT held-out loss {m['before']['loss']:.3f} -> {m['after']['loss']:.3f}, "
        f"token accuracy {m['before']['mean_token_accuracy']:.3f} -> "
        f"{m['after']['mean_token_accuracy']:.3f}, "
        f"{m['data']['train_examples']} pairs in {m['train']['train_runtime']:.1f}s"
    )
    assert m["data"]["train_examples"] == 384 and m["data"]["eval_examples"] == 48
    assert m["after"]["loss"] < m["before"]["loss"] - 0.5
    assert json.loads((cfg.output / "metrics.json").read_text())["after"] == m["after"]
    # The same fall measured independently on the saved directories (assistant tokens only).
    held = load_splits(cfg.data, "sft").eval
    tok = load_tokenizer(cfg.output)
    before = sft_loss(load_model(cfg.model), tok, held, max_length=256)
    after = sft_loss(load_model(cfg.output), tok, held, max_length=256)
    print(f"sft_loss on the saved directories: {before:.3f} -> {after:.3f}")
    assert after < before - 0.5


def _eot_after_reply(model, tok, examples) -> float:
    """Mean probability of <|eot|> right after the whole reference reply (held-out)."""
    total = 0.0
    for ex in examples:
        ids = tok.apply_chat_template(ex["messages"], tokenize=True, return_dict=True)["input_ids"]
        assert ids[-1] == tok.convert_tokens_to_ids("<|eot|>")
        with torch.no_grad():
            logits = model(torch.tensor([ids[:-1]]))
        total += float(logits[0, -1].softmax(-1)[ids[-1]])
    return total / len(examples)


def test_the_sft_model_stops_at_its_end_of_turn_token(sft_run):
    from lm_model import generate
    from lm_model.hf import load_hf

    cfg, _ = sft_run
    tok = load_tokenizer(cfg.output)
    eot, eos = tok.convert_tokens_to_ids("<|eot|>"), tok.eos_token_id
    assert json.loads((cfg.output / "generation_config.json").read_text())["eos_token_id"] == [
        eos,
        eot,
    ]
    held = load_splits(cfg.data, "sft").eval[:16]
    base, tuned = load_hf(cfg.model), load_hf(cfg.output)
    before, after = _eot_after_reply(base, tok, held), _eot_after_reply(tuned, tok, held)
    stopped = {"base": 0, "sft": 0}
    for i, ex in enumerate(held[:8]):
        prompt = tok.apply_chat_template(
            ex["messages"][:1], add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
        for name, model in (("base", base), ("sft", tuned)):
            out = list(
                generate(model, prompt, 256, temperature=0.7, top_k=40, stop_ids=[eot, eos], seed=i)
            )
            stopped[name] += out[-1] == eot
    print(f"\np(<|eot|>) after the reference reply: {before:.4f} -> {after:.4f}; sampled replies "
          f"ending with <|eot|> within 256 tokens: {stopped['base']}/8 -> {stopped['sft']}/8")
    assert after > 0.01 and after > 100 * before
    assert stopped["base"] <= 1 and stopped["sft"] >= 6
