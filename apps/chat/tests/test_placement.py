"""Chat models open through lm-model's one loader: bfloat16 on CUDA, float32 on CPU unless
told otherwise, and the stop tokens of the directory's generation_config.json."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import lm_model.hf
from lm_chat.generation import ChatModel


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
    ChatModel.load(model_dir, device=device, dtype=dtype)
    assert asked == {"dtype": expected, "device": device}


def test_load_uses_lm_model_load_dir_and_its_stop_ids(model_dir, monkeypatch):
    calls = []
    load_dir = lm_model.hf.load_dir

    def spy(directory, **kwargs):
        calls.append((directory, kwargs))
        return load_dir(directory, **kwargs)

    monkeypatch.setattr(lm_model.hf, "load_dir", spy)
    chat = ChatModel.load(model_dir, device="cpu")
    assert calls == [(model_dir, {"device": "cpu", "dtype": "auto"})]
    vocab = chat.tokenizer.get_vocab()
    assert chat.stop_ids == {vocab["<|eos|>"], vocab["<|eot|>"]}
    assert json.loads((model_dir / "generation_config.json").read_text())["eos_token_id"] == [
        vocab["<|eos|>"], vocab["<|eot|>"]]


def test_a_directory_without_generation_config_is_refused_naming_the_file(model_dir, tmp_path):
    bare = shutil.copytree(model_dir, tmp_path / "bare")
    (bare / "generation_config.json").unlink()
    with pytest.raises(FileNotFoundError, match=f"{bare / 'generation_config.json'} not found"):
        ChatModel.load(bare, device="cpu")
