"""Evaluated models open through lm-model's one loader: bfloat16 on CUDA and float32 on CPU
unless told otherwise, and the stop tokens of the directory's generation_config.json."""

from __future__ import annotations

import pytest
import torch

import lm_model.hf
from lm_evaluate import EvalConfig, evaluate, load_scorer


@pytest.mark.parametrize("device,dtype,expected", [
    ("cuda", "auto", torch.bfloat16), ("cpu", "auto", torch.float32),
    ("cuda", "float32", torch.float32),
])
def test_default_dtype_follows_the_device(model_dir, monkeypatch, device, dtype, expected):
    asked = {}
    load_hf = lm_model.hf.load_hf

    def spy(directory, *, dtype, device):
        asked.update(dtype=dtype, device=device)
        return load_hf(directory, dtype=dtype, device="cpu")  # no GPU here: load on the CPU

    monkeypatch.setattr(lm_model.hf, "load_hf", spy)
    load_scorer(model_dir, device=device, dtype=dtype)
    assert asked == {"dtype": expected, "device": device}


def test_evaluate_uses_lm_model_load_dir_and_stops_at_eos_and_end_of_turn(
        model_dir, data_dir, monkeypatch):
    calls = []
    load_dir = lm_model.hf.load_dir

    def spy(directory, **kwargs):
        calls.append(directory)
        return load_dir(directory, **kwargs)

    monkeypatch.setattr(lm_model.hf, "load_dir", spy)
    evaluate(EvalConfig(model=model_dir, data_dir=data_dir, tasks=("lambada",), limit=1,
                        device="cpu"))
    assert calls == [model_dir]
    scorer = load_scorer(model_dir, device="cpu")
    vocab = scorer.tokenizer.get_vocab()
    assert scorer.stop_ids == {vocab["<|eos|>"], vocab["<|eot|>"]}


def test_a_model_without_generation_config_fails_before_loading(data_dir, tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'generation_config.json'} not found"):
        EvalConfig(model=tmp_path, tasks=("lambada",), data_dir=data_dir).check_files()
