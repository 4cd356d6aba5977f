"""Chat models load in bfloat16 on CUDA and float32 on CPU unless told otherwise."""

from __future__ import annotations

import pytest
import torch

from lm_chat import generation
from lm_chat.generation import ChatModel


@pytest.mark.parametrize("device,dtype,expected", [
    ("cuda", "auto", torch.bfloat16), ("cpu", "auto", torch.float32),
    ("cuda", "float32", torch.float32),
])
def test_default_dtype_follows_the_device(model_dir, monkeypatch, device, dtype, expected):
    asked = {}
    load_hf = generation.load_hf

    def spy(directory, *, dtype, device):
        asked.update(dtype=dtype, device=device)
        return load_hf(directory, dtype=dtype, device="cpu")  # no GPU here: load on the CPU

    monkeypatch.setattr(generation, "load_hf", spy)
    ChatModel.load(model_dir, device=device, dtype=dtype)
    assert asked == {"dtype": expected, "device": device}
