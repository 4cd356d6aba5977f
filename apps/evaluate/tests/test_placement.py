"""Evaluated models load in bfloat16 on CUDA and float32 on CPU unless told otherwise."""

from __future__ import annotations

import pytest
import torch

from lm_evaluate import load_model_dir, scorer


@pytest.mark.parametrize("device,dtype,expected", [
    ("cuda", "auto", torch.bfloat16), ("cpu", "auto", torch.float32),
    ("cuda", "float32", torch.float32),
])
def test_default_dtype_follows_the_device(model_dir, monkeypatch, device, dtype, expected):
    asked = {}
    load_hf = scorer.load_hf

    def spy(directory, *, dtype, device):
        asked.update(dtype=dtype, device=device)
        return load_hf(directory, dtype=dtype, device="cpu")  # no GPU here: load on the CPU

    monkeypatch.setattr(scorer, "load_hf", spy)
    load_model_dir(model_dir, device=device, dtype=dtype)
    assert asked == {"dtype": expected, "device": device}
