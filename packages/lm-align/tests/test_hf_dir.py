"""The tokenizer and the stop tokens come from the input directory through lm-model's loader,
and every output directory carries the stop tokens on (eos and lm-tok's <|eot|>)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch
from align_testdata import GSM8K

import lm_model.hf
from lm_align import DataConfig, SFTRunConfig, run_sft
from lm_align.hf_dir import load_model, load_tokenizer, save_output, stop_ids
from lm_model import ModelConfig, Transformer
from lm_tok import END_OF_TURN, EOS


@pytest.fixture(scope="module")
def model_dir(tok_dir, tmp_path_factory):
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_preset("debug", vocab_size=2048))
    return lm_model.hf.save_hf(model, tmp_path_factory.mktemp("hf"), tokenizer_dir=tok_dir)


def _spy(monkeypatch, name: str) -> list:
    calls, real = [], getattr(lm_model.hf, name)

    def spy(directory, *args, **kwargs):
        calls.append(directory)
        return real(directory, *args, **kwargs)

    monkeypatch.setattr(lm_model.hf, name, spy)
    return calls


def test_tokenizer_and_stop_ids_come_through_lm_model(model_dir, monkeypatch):
    tokenizers, stops = _spy(monkeypatch, "load_tokenizer"), _spy(monkeypatch, "stop_ids")
    tok = load_tokenizer(model_dir, need_generation_blocks=True)
    eos, eot = tok.convert_tokens_to_ids(EOS), tok.convert_tokens_to_ids(END_OF_TURN)
    assert stop_ids(model_dir) == [eos, eot]
    assert tokenizers == [model_dir] and stops == [model_dir]


def test_sft_refuses_an_input_without_stop_tokens_before_training(model_dir, tmp_path):
    bare = shutil.copytree(model_dir, tmp_path / "bare")
    (bare / "generation_config.json").unlink()
    cfg = SFTRunConfig(model=bare, output=tmp_path / "out", data=DataConfig(train=(GSM8K,)))
    with pytest.raises(FileNotFoundError, match=f"{bare / 'generation_config.json'} not found"):
        run_sft(cfg)
    assert not (tmp_path / "out").exists()


@dataclass
class _Run:
    seed: int = 0


class _Trainer:
    """What save_output uses of a trl trainer, on one process."""

    def __init__(self, model) -> None:
        self.model = model
        self.accelerator = SimpleNamespace(unwrap_model=lambda m: m)
        self.args = SimpleNamespace(to_json_string=lambda: "{}")

    def save_model(self, output: str) -> None:
        self.model.save_pretrained(output)

    def is_world_process_zero(self) -> bool:
        return True


def test_output_directory_carries_the_input_stop_ids(model_dir, tmp_path):
    stops = stop_ids(model_dir)
    model = load_model(model_dir)
    model.generation_config.eos_token_id = stops[0]  # as a third-party directory might have it
    out = save_output(_Trainer(model), load_tokenizer(model_dir), tmp_path / "out", stops=stops,
                      run_config=_Run(), stage="sft", metrics={}, skipped=[])
    assert stop_ids(out) == stops and len(stops) == 2
    assert json.loads((out / "lm-align-sft.json").read_text()) == {"seed": 0}
