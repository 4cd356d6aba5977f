"""tiny lm-model → save_hf → `lm-align sft` → `lm-align dpo` → load_hf → generate, through
the CLI and TOML configs; the outputs load in transformers with the same logits."""

from __future__ import annotations

import json
import time

import pytest
import torch
from align_testdata import GSM8K, HH_RLHF

from lm_align.cli import main
from lm_model import ModelConfig, Transformer, generate
from lm_model.hf import load_hf, save_hf, verify_hf

pytestmark = pytest.mark.slow


def _write(path, body):
    path.write_text(body)
    return str(path)


def test_pretrained_to_sft_to_dpo_to_generation(tok_dir, tmp_path):
    start = time.time()
    torch.manual_seed(0)
    from lm_tok import load_tokenizer

    vocab = load_tokenizer(tok_dir).get_vocab_size()
    save_hf(Transformer(ModelConfig.from_preset("debug", vocab_size=vocab)), tmp_path / "base",
            tokenizer_dir=tok_dir)
    train = """[train]
max_steps = 3
per_device_train_batch_size = 4
max_length = 128
learning_rate = 1e-3
logging_steps = 1
[train.extra]
disable_tqdm = true
"""
    sft = _write(tmp_path / "sft.toml", f"""model = "{tmp_path / 'base'}"
output = "{tmp_path / 'sft'}"
[data]
train = ["{GSM8K}"]
max_train_examples = 12
max_eval_examples = 4
{train}""")
    dpo = _write(tmp_path / "dpo.toml", f"""model = "{tmp_path / 'sft'}"
output = "{tmp_path / 'dpo'}"
beta = 0.1
[data]
train = ["{HH_RLHF}"]
format = "hh_rlhf"
max_train_examples = 12
max_eval_examples = 4
{train}""")
    assert main(["sft", sft, "--train.max_steps", "2"]) == 0
    assert main(["dpo", dpo]) == 0
    for stage, steps in (("sft", 2), ("dpo", 3)):
        out = tmp_path / stage
        names = {p.name for p in out.iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json", "metrics.json",
                f"lm-align-{stage}.json", "generation_config.json"} <= names
        assert "training_args.bin" not in names  # a pickle
        assert (
            json.loads((out / f"lm-align-{stage}.json").read_text())["train"]["max_steps"] == steps
        )
        model = load_hf(out)
        verify_hf(model, out)  # transformers reads the same weights and gives the same logits
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tmp_path / "dpo")
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
    )["input_ids"]
    ids = list(generate(model, prompt, 24, temperature=0.8, top_k=50, seed=0,
                        stop_ids=[tok.eos_token_id, tok.convert_tokens_to_ids("<|eot|>")]))
    text = tok.decode(ids, skip_special_tokens=True)
    assert ids and text.strip()
    elapsed = time.time() - start
    print(f"\nend to end in {elapsed:.1f}s: {text!r}")
    assert not any(
        p.name == "checkpoints" and any(p.iterdir()) for p in (tmp_path / "dpo").iterdir()
    )
