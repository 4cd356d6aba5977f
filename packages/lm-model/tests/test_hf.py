import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from lm_model import ModelConfig, Transformer, generate, load_hf, save_hf, verify_hf
from lm_model.hf import from_hf_config


@pytest.fixture
def transformers():
    """Only the parity tests need it; the rest run against the bare wheel too."""
    return pytest.importorskip("transformers")


VARIANTS = {
    "llama": {},
    "qwen3-qk-norm": dict(qk_norm=True),
    "tied": dict(tie_embeddings=True),
    "llama3.1-rope-scaling": dict(rope_scaling=dict(factor=8.0, original_max_seq_len=64)),
    "mha": dict(n_kv_heads=4),
}


def _random_model(**overrides) -> Transformer:
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_preset("debug", **overrides)).eval()
    with torch.no_grad():  # norms start at 1: perturb them so a missed norm shows up
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_transformers_loads_the_export_with_matching_logits(transformers, tmp_path, variant):
    model = _random_model(**VARIANTS[variant])
    save_hf(model, tmp_path)
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    expected = "Qwen3ForCausalLM" if model.config.qk_norm else "LlamaForCausalLM"
    assert type(hf).__name__ == expected
    # Past original_max_seq_len, so the llama3 rope scaling is exercised too.
    x = torch.randint(0, 512, (3, 200), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (model(x) - hf(x).logits).abs().max().item()
    assert diff < 1e-5
    assert verify_hf(model, tmp_path) < 1e-5


@pytest.mark.wheel
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_round_trip_is_exact(tmp_path, variant):
    model = _random_model(**VARIANTS[variant])
    loaded = load_hf(save_hf(model, tmp_path))
    assert loaded.config == model.config
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    if model.config.tie_embeddings:
        assert loaded.output.weight is loaded.tok_embeddings.weight


def test_greedy_generation_matches_transformers(transformers, tmp_path):
    model = _random_model()
    save_hf(model, tmp_path)
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
    prompt = [3, 14, 15, 92, 65]
    ours = list(generate(model, prompt, 25, temperature=0))
    theirs = hf.generate(torch.tensor([prompt]), max_new_tokens=25, do_sample=False,
                         min_new_tokens=25, pad_token_id=0)[0, len(prompt):].tolist()
    assert ours == theirs


@pytest.mark.wheel
def test_bf16_export_and_tokenizer_files(tmp_path):
    model = _random_model()
    tok = tmp_path / "tok"
    tok.mkdir()
    (tok / "tokenizer.json").write_text(json.dumps({"added_tokens": [
        {"id": 0, "content": "<|bos|>"}, {"id": 1, "content": "<|eos|>"},
        {"id": 2, "content": "<|pad|>"}]}))
    (tok / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<|bos|>", "eos_token": {"content": "<|eos|>"}, "pad_token": "<|pad|>"}))
    out = save_hf(model, tmp_path / "hf", dtype=torch.bfloat16, tokenizer_dir=tok)
    config = json.loads((out / "config.json").read_text())
    assert (config["bos_token_id"], config["eos_token_id"], config["pad_token_id"]) == (0, 1, 2)
    assert config["torch_dtype"] == "bfloat16"
    assert (out / "tokenizer_config.json").is_file()
    assert all(t.dtype == torch.bfloat16 for t in load_file(out / "model.safetensors").values())


@pytest.mark.wheel
def test_loads_sharded_checkpoints(tmp_path):
    model = _random_model()
    save_hf(model, tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    names = sorted(tensors)
    halves = {"model-00001-of-00002.safetensors": names[::2],
              "model-00002-of-00002.safetensors": names[1::2]}
    for shard, keys in halves.items():
        save_file({k: tensors[k] for k in keys}, tmp_path / shard)
    (tmp_path / "model.safetensors").unlink()
    index = {"weight_map": {k: s for s, keys in halves.items() for k in keys}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    loaded = load_hf(tmp_path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize(("change", "message"), [
    ({"model_type": "gpt2"}, "model_type"),
    ({"attention_bias": True}, "attention_bias"),
    ({"hidden_act": "gelu"}, "hidden_act"),
    ({"head_dim": 32}, "head_dim"),
    ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4}}, "yarn"),
])
def test_unsupported_configs_are_refused_by_field(tmp_path, change, message):
    model = _random_model()
    save_hf(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(change)
    config.pop("lm_model")
    with pytest.raises(ValueError, match=message):
        from_hf_config(config)


def test_shape_mismatch_and_missing_files_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        load_hf(tmp_path)
    save_hf(_random_model(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["vocab_size"] = 600  # e.g. resized by a tool that left our entry stale
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"tok_embeddings\.weight"):
        load_hf(tmp_path)


def test_verify_hf_raises_on_mismatch(transformers, tmp_path):
    model = _random_model()
    save_hf(model, tmp_path)
    with torch.no_grad():
        model.layers["1"].feed_forward.w2.weight.mul_(1.5)
    with pytest.raises(ValueError, match="differ"):
        verify_hf(model, tmp_path)


def _sharded(tmp_path, shard_name: str):
    """An export whose index sends every tensor to `shard_name`, and a valid shard outside it."""
    model_dir, outside = tmp_path / "model", tmp_path / "outside"
    outside.mkdir()
    save_hf(_random_model(), model_dir)
    (model_dir / "model.safetensors").rename(outside / "stolen.safetensors")
    names = load_file(outside / "stolen.safetensors")
    index = {"weight_map": {k: shard_name for k in names}}
    (model_dir / "model.safetensors.index.json").write_text(json.dumps(index))
    return model_dir


@pytest.mark.wheel
@pytest.mark.parametrize("shard", ["../outside/stolen.safetensors", "ABSOLUTE", "link.safetensors"])
def test_shard_names_must_stay_inside_the_model_directory(tmp_path, shard):
    if shard == "ABSOLUTE":
        shard = str(tmp_path / "outside" / "stolen.safetensors")
    model_dir = _sharded(tmp_path, shard)
    if shard == "link.safetensors":  # a symlink that leaves the directory
        (model_dir / shard).symlink_to(tmp_path / "outside" / "stolen.safetensors")
    index = model_dir / "model.safetensors.index.json"
    with pytest.raises(ValueError, match=rf"{index}: .*outside {model_dir}"):
        load_hf(model_dir)


@pytest.mark.wheel
def test_shard_index_errors_name_the_index(tmp_path):
    model_dir = _sharded(tmp_path, "missing.safetensors")
    index = model_dir / "model.safetensors.index.json"
    with pytest.raises(FileNotFoundError, match=rf"{index}: .*missing\.safetensors"):
        load_hf(model_dir)
    index.write_text(json.dumps({"metadata": {}}))
    with pytest.raises(ValueError, match=rf"{index}: .*weight_map"):
        load_hf(model_dir)


@pytest.mark.wheel
@pytest.mark.parametrize(("text", "message"), [
    ("{\"model_type\": \"llama\",", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ("DROP hidden_size", "'hidden_size' missing"),
    ("SET vocab_size=\"big\"", "vocab_size"),
])
def test_malformed_config_json_names_the_file(tmp_path, text, message):
    save_hf(_random_model(), tmp_path)
    config_path = tmp_path / "config.json"
    if text.startswith(("DROP", "SET")):
        config = json.loads(config_path.read_text())
        config.pop("lm_model")
        if text.startswith("DROP"):
            del config[text.split()[1]]
        else:
            key, value = text.split()[1].split("=")
            config[key] = json.loads(value)
        text = json.dumps(config)
    config_path.write_text(text)
    with pytest.raises(ValueError, match=rf"{config_path}: .*{message}"):
        load_hf(tmp_path)

def test_inference_placement_defaults_to_bf16_on_cuda_and_fp32_on_cpu():
    from lm_model.hf import inference_placement

    assert inference_placement("cuda") == ("cuda", torch.bfloat16)
    assert inference_placement("cuda:1", "auto") == ("cuda:1", torch.bfloat16)
    assert inference_placement("cpu") == ("cpu", torch.float32)
    assert inference_placement("cuda", "float32") == ("cuda", torch.float32)
    with pytest.raises(ValueError, match="dtype: 'fp8'"):
        inference_placement("cpu", "fp8")
