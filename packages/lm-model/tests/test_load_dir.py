"""`load_dir` and `stop_ids`: the one way chat, evaluation and alignment open a model directory."""

import json

import pytest
import torch

from lm_model import ModelConfig, Transformer, load_dir, save_hf, stop_ids

SPECIALS = ["<|bos|>", "<|eos|>", "<|pad|>", "<|eot|>"]


@pytest.fixture
def tok_dir(tmp_path):
    """A word-level tokenizer directory laid out as lm-tok writes one (tokenizers only)."""
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {t: i for i, t in enumerate([*SPECIALS, "[UNK]", "hello", "world"])}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.add_special_tokens(SPECIALS)
    d = tmp_path / "tok"
    d.mkdir()
    tok.save(str(d / "tokenizer.json"))
    (d / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|bos|>",
        "eos_token": "<|eos|>", "pad_token": "<|pad|>", "model_max_length": 64}))
    (d / "generation_config.json").write_text(json.dumps({"eos_token_id": [1, 3]}))
    return d


def _model(**overrides) -> Transformer:
    torch.manual_seed(0)
    return Transformer(ModelConfig.from_preset("debug", **overrides))


def test_load_dir_gives_the_model_its_tokenizer_and_the_stop_ids(tok_dir, tmp_path):
    pytest.importorskip("transformers")
    model = _model()
    out = save_hf(model, tmp_path / "hf", tokenizer_dir=tok_dir)
    loaded, tokenizer = load_dir(out, device="cpu")
    assert not loaded.training and loaded.config == model.config
    assert next(loaded.parameters()).dtype == torch.float32  # "auto" on CPU
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    assert tokenizer.encode("hello world") == [5, 6]
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id) == (1, 2)
    assert stop_ids(out) == [1, 3]  # eos and the end-of-turn token, copied by save_hf
    bf16, _ = load_dir(out, device="cpu", dtype="bfloat16")
    assert next(bf16.parameters()).dtype == torch.bfloat16


def test_stop_ids_accepts_one_id_and_names_the_file_when_missing_or_malformed(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'generation_config.json'} not found"):
        stop_ids(tmp_path)
    path = tmp_path / "generation_config.json"
    path.write_text(json.dumps({"eos_token_id": 7}))
    assert stop_ids(tmp_path) == [7]
    for bad in ({}, {"eos_token_id": []}, {"eos_token_id": ["<|eot|>"]}, [1, 2]):
        path.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=f"{path}: eos_token_id must be"):
            stop_ids(tmp_path)
    path.write_text("{")
    with pytest.raises(ValueError, match=f"{path}: not valid JSON"):
        stop_ids(tmp_path)


def test_load_dir_refuses_a_directory_without_tokenizer_or_too_big_a_tokenizer(tok_dir, tmp_path):
    pytest.importorskip("transformers")
    bare = save_hf(_model(), tmp_path / "bare")
    with pytest.raises(FileNotFoundError, match=f"{bare / 'tokenizer.json'} not found"):
        load_dir(bare, device="cpu")
    small = save_hf(_model(vocab_size=5), tmp_path / "small", tokenizer_dir=tok_dir)
    with pytest.raises(ValueError, match=f"{small}: the tokenizer has 7 tokens, more than"):
        load_dir(small, device="cpu")
