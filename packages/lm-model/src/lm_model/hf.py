"""Hugging Face format: `config.json` + `model.safetensors` that transformers loads.

The export is a rename (the RoPE layouts already agree), written as a Llama model, or as
Qwen3 when QK-norm is on. `save_hf` and `load_hf` need only safetensors; `verify_hf` loads
the directory with transformers (the `lm-model[hf]` extra) and compares logits.

`load_dir` is the one way to open a model directory for inference (chat, evaluation): the
model placed by `inference_placement` and its tokenizer; `stop_ids` reads where generation
stops from `generation_config.json`, which lm-tok writes into every tokenizer directory.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file, save_file

from lm_model.config import ModelConfig, RopeScaling
from lm_model.model import Transformer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

GENERATION_CONFIG_JSON = "generation_config.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "chat_template.jinja", "generation_config.json")

# Our name → Hugging Face name, per block and for the rest.
_BLOCK_NAMES = {
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "attention.q_norm.weight": "self_attn.q_norm.weight",
    "attention.k_norm.weight": "self_attn.k_norm.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "attention_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}
_TOP_NAMES = {
    "tok_embeddings.weight": "model.embed_tokens.weight",
    "norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
_BLOCK_RE = re.compile(r"^layers\.(\d+)\.(.+)$")
_HF_BLOCK_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


def to_hf_name(name: str) -> str:
    """`layers.3.attention.wq.weight` → `model.layers.3.self_attn.q_proj.weight`."""
    if name in _TOP_NAMES:
        return _TOP_NAMES[name]
    m = _BLOCK_RE.match(name)
    if m and m.group(2) in _BLOCK_NAMES:
        return f"model.layers.{m.group(1)}.{_BLOCK_NAMES[m.group(2)]}"
    raise KeyError(f"no Hugging Face name for parameter {name!r}")


def from_hf_name(name: str) -> str:
    """The inverse of `to_hf_name`."""
    inverse_top = {v: k for k, v in _TOP_NAMES.items()}
    if name in inverse_top:
        return inverse_top[name]
    m = _HF_BLOCK_RE.match(name)
    inverse_block = {v: k for k, v in _BLOCK_NAMES.items()}
    if m and m.group(2) in inverse_block:
        return f"layers.{m.group(1)}.{inverse_block[m.group(2)]}"
    raise KeyError(f"unexpected tensor {name!r} in a Llama/Qwen3 checkpoint")


def to_hf_config(config: ModelConfig, *, dtype: torch.dtype = torch.float32,
                 token_ids: dict[str, int | None] | None = None) -> dict[str, Any]:
    """A `config.json` for transformers 4.51+ (flat rope keys) and 5.x (`rope_parameters`)."""
    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": config.rope_theta}
    if config.rope_scaling is not None:
        s = config.rope_scaling
        rope.update(rope_type="llama3", factor=s.factor, low_freq_factor=s.low_freq_factor,
                    high_freq_factor=s.high_freq_factor,
                    original_max_position_embeddings=s.original_max_seq_len)
    arch = ("Qwen3ForCausalLM", "qwen3") if config.qk_norm else ("LlamaForCausalLM", "llama")
    dtype_name = str(dtype).removeprefix("torch.")
    hf: dict[str, Any] = {
        "architectures": [arch[0]],
        "model_type": arch[1],
        "vocab_size": config.vocab_size,
        "hidden_size": config.dim,
        "intermediate_size": config.hidden_dim,
        "num_hidden_layers": config.n_layers,
        "num_attention_heads": config.n_heads,
        "num_key_value_heads": config.n_kv_heads,
        "head_dim": config.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": config.max_seq_len,
        "rms_norm_eps": config.norm_eps,
        "rope_theta": config.rope_theta,
        "rope_scaling": None if config.rope_scaling is None else {
            k: v for k, v in rope.items() if k != "rope_theta"},
        "rope_parameters": rope,
        "tie_word_embeddings": config.tie_embeddings,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": config.init_std,
        "use_cache": True,
        "torch_dtype": dtype_name,
        "dtype": dtype_name,
    }
    if arch[1] == "llama":
        hf["mlp_bias"] = False
    else:
        hf.update(use_sliding_window=False, sliding_window=None)
    hf.update({k: v for k, v in (token_ids or {}).items() if v is not None})
    # Our own config rides along so load_hf restores it exactly (multiple_of, init_std...);
    # transformers keeps unknown keys as plain attributes.
    hf["lm_model"] = config.to_dict()
    return hf


def _rope_from_hf(hf: dict[str, Any]) -> tuple[float, RopeScaling | None]:
    rope = hf.get("rope_parameters") or {}
    scaling = hf.get("rope_scaling") or {}
    theta = float(rope.get("rope_theta", hf.get("rope_theta", 10_000.0)))
    spec = rope if rope.get("rope_type", "default") != "default" else scaling
    kind = spec.get("rope_type", spec.get("type", "default"))
    if kind == "default":
        return theta, None
    if kind != "llama3":
        raise ValueError(f"rope_type {kind!r} is not supported (only default and llama3)")
    return theta, RopeScaling(
        factor=float(spec["factor"]), low_freq_factor=float(spec["low_freq_factor"]),
        high_freq_factor=float(spec["high_freq_factor"]),
        original_max_seq_len=int(spec["original_max_position_embeddings"]),
    )


def from_hf_config(hf: dict[str, Any], *, source: str = "config.json") -> ModelConfig:
    """Read a Llama or Qwen3 `config.json` dict; refuse features this model lacks.

    The saved `lm_model` entry is used only while it still describes the same model as the
    Hugging Face fields: a tool that resized the vocabulary rewrites those, not ours.
    Errors are `ValueError`s that start with `source` (the file's path, for `load_hf`).
    """
    if not isinstance(hf, dict):
        raise ValueError(f"{source}: expected a JSON object, got {type(hf).__name__}")
    try:
        config = _from_hf_fields(hf)
    except KeyError as e:
        raise ValueError(f"{source}: field {e} missing") from e
    except (TypeError, ValueError) as e:
        raise ValueError(f"{source}: {e}") from e
    saved = hf.get("lm_model")
    if isinstance(saved, dict):
        try:
            ours = ModelConfig.from_dict(saved)
        except (TypeError, ValueError):
            return config
        if _shape(to_hf_config(ours)) == _shape(to_hf_config(config)):
            return ours
        logger.warning(
            "%s: the lm_model entry disagrees with the model fields; ignoring it", source
        )
    return config


def _shape(hf: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hf.items() if k not in ("lm_model", "initializer_range")}


def _from_hf_fields(hf: dict[str, Any]) -> ModelConfig:
    model_type = hf.get("model_type")
    if model_type not in ("llama", "qwen3"):
        raise ValueError(f"model_type {model_type!r} is not supported (llama, qwen3)")
    unsupported = {
        "attention_bias": hf.get("attention_bias", False),
        "mlp_bias": hf.get("mlp_bias", False),
        "use_sliding_window": hf.get("use_sliding_window", False),
    }
    for key, value in unsupported.items():
        if value:
            raise ValueError(f"{key}={value!r} is not supported")
    if hf.get("hidden_act", "silu") != "silu":
        raise ValueError(f"hidden_act {hf['hidden_act']!r} is not supported (silu)")
    dim, heads = hf["hidden_size"], hf["num_attention_heads"]
    if hf.get("head_dim") not in (None, dim // heads):
        raise ValueError(f"head_dim {hf['head_dim']} != hidden_size / heads ({dim // heads})")
    theta, scaling = _rope_from_hf(hf)
    return ModelConfig(
        vocab_size=hf["vocab_size"], dim=dim, n_layers=hf["num_hidden_layers"], n_heads=heads,
        n_kv_heads=hf.get("num_key_value_heads", heads), ffn_hidden_dim=hf["intermediate_size"],
        norm_eps=hf.get("rms_norm_eps", 1e-6), rope_theta=theta, rope_scaling=scaling,
        max_seq_len=hf.get("max_position_embeddings", 2048),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        qk_norm=model_type == "qwen3", init_std=hf.get("initializer_range", 0.02),
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from e


def _special_token_ids(tokenizer_dir: Path) -> dict[str, int | None]:
    """bos/eos/pad ids from tokenizer_config.json names and tokenizer.json's added tokens."""
    config_path, tok_path = (
        tokenizer_dir / "tokenizer_config.json",
        tokenizer_dir / "tokenizer.json",
    )
    if not config_path.is_file() or not tok_path.is_file():
        return {}
    tok_config = _read_json(config_path)
    vocab = {t["content"]: t["id"] for t in _read_json(tok_path).get("added_tokens", [])}
    ids = {}
    for role in ("bos", "eos", "pad"):
        token = tok_config.get(f"{role}_token")
        token = token.get("content") if isinstance(token, dict) else token
        ids[f"{role}_token_id"] = vocab.get(token) if token else None
    return ids


def save_hf(model: Transformer, out_dir: str | Path, *, dtype: torch.dtype | None = None,
            tokenizer_dir: str | Path | None = None) -> Path:
    """Write `config.json` and `model.safetensors` (and the tokenizer files, if given).

    `dtype` casts the weights on the way out (default: as they are). With `tokenizer_dir`
    the tokenizer files are copied in and the bos/eos/pad ids go into the config.
    """
    if model.tok_embeddings is None or model.norm is None or model.output is None:
        raise ValueError("save_hf needs a whole model, not a pipeline stage")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dtype = dtype or model.tok_embeddings.weight.dtype
    tensors = {}
    for name, tensor in model.state_dict().items():
        if name == "output.weight" and model.config.tie_embeddings:
            continue  # transformers re-ties lm_head to embed_tokens
        # clone(): safetensors refuses tensors that share storage.
        tensors[to_hf_name(name)] = tensor.detach().to("cpu", dtype).contiguous().clone()
    save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})
    token_ids: dict[str, int | None] = {}
    if tokenizer_dir is not None:
        tokenizer_dir = Path(tokenizer_dir)
        if not (tokenizer_dir / "tokenizer.json").is_file():
            raise FileNotFoundError(f"{tokenizer_dir / 'tokenizer.json'} not found")
        for name in TOKENIZER_FILES:
            if (tokenizer_dir / name).is_file():
                shutil.copy2(tokenizer_dir / name, out / name)
        if not (tokenizer_dir / GENERATION_CONFIG_JSON).is_file():
            logger.warning("%s has no %s: chat and evaluation (stop_ids) will refuse %s",
                           tokenizer_dir, GENERATION_CONFIG_JSON, out)
        token_ids = _special_token_ids(tokenizer_dir)
    hf_config = to_hf_config(model.config, dtype=dtype, token_ids=token_ids)
    (out / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
    logger.info("wrote %s (%s, %.1fM parameters)", out, hf_config["architectures"][0],
                model.num_params() / 1e6)
    return out


def _shard_paths(directory: Path, index: Path) -> list[Path]:
    """The shard files `index` names, each checked to lie inside `directory`.

    The index is data from wherever the model came from: a `../` or absolute name, or a
    symlink, must not make us read files elsewhere on the machine.
    """
    data = _read_json(index)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ValueError(f"{index}: no 'weight_map' object of tensor name -> shard file")
    root = directory.resolve()
    paths = []
    for name in sorted(set(map(str, weight_map.values()))):
        path = directory / name
        # resolve() follows symlinks, so a link to a file elsewhere is refused too.
        if (
            Path(name).is_absolute()
            or ".." in Path(name).parts
            or not path.resolve().is_relative_to(root)
        ):
            raise ValueError(f"{index}: shard {name!r} lies outside {directory}")
        if not path.is_file():
            raise FileNotFoundError(f"{index}: shard {name} not found in {directory}")
        paths.append(path)
    return paths


def _read_tensors(directory: Path) -> dict[str, torch.Tensor]:
    single, index = directory / "model.safetensors", directory / "model.safetensors.index.json"
    if single.is_file():
        return load_file(single)
    if index.is_file():
        tensors: dict[str, torch.Tensor] = {}
        for shard in _shard_paths(directory, index):
            tensors.update(load_file(shard))
        return tensors
    raise FileNotFoundError(f"{directory}: neither model.safetensors nor its index found")


INFERENCE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def inference_placement(device: str | None = None, dtype: str = "auto") -> tuple[str, torch.dtype]:
    """Where and in what precision to serve or evaluate a model: the device defaults to CUDA
    when there is one; dtype "auto" is bfloat16 on CUDA (half the memory, tensor cores) and
    float32 on CPU."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype == "auto":
        dtype = "bfloat16" if torch.device(device).type == "cuda" else "float32"
    if dtype not in INFERENCE_DTYPES:
        raise ValueError(f"dtype: {dtype!r} is not one of {sorted(INFERENCE_DTYPES)} or 'auto'")
    return device, INFERENCE_DTYPES[dtype]


def load_hf(directory: str | Path, *, dtype: torch.dtype | None = None,
            device: torch.device | str = "cpu") -> Transformer:
    """Load a Llama/Qwen3 Hugging Face directory (ours or a compatible one) into a Transformer."""
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found")
    config = from_hf_config(_read_json(config_path), source=str(config_path))
    state = {}
    for hf_name, tensor in _read_tensors(directory).items():
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue  # derived buffer some older exports include
        state[from_hf_name(hf_name)] = tensor.to(device, dtype) if dtype else tensor.to(device)
    if config.tie_embeddings:
        state.pop("output.weight", None)
    with torch.device("meta"):
        model = Transformer(config)
    expected = model.state_dict()
    wrong = [f"{k}: {tuple(v.shape)} in the file, {tuple(expected[k].shape)} by config.json"
             for k, v in state.items() if k in expected and v.shape != expected[k].shape]
    if wrong:
        raise ValueError(f"{directory}: tensor shapes disagree with config.json: {wrong}")
    missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
    if config.tie_embeddings:
        missing = [m for m in missing if m != "output.weight"]
        model.output.weight = model.tok_embeddings.weight
    if missing or unexpected:
        raise ValueError(f"{directory}: missing tensors {missing}, unexpected tensors {unexpected}")
    model.init_buffers(device)
    return model


def stop_ids(directory: str | Path) -> list[int]:
    """The token ids that end generated text: `generation_config.json`'s eos_token_id (an id
    or a list of them). For lm-tok tokenizers that is eos and the end-of-turn token."""
    path = Path(directory) / GENERATION_CONFIG_JSON
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: it names the tokens where generation stops (eos_token_id); lm-tok "
            "writes it into every tokenizer directory and save_hf(..., tokenizer_dir=) copies it")
    data = _read_json(path)
    eos = data.get("eos_token_id") if isinstance(data, dict) else None
    ids = [eos] if isinstance(eos, int) else eos
    if (not isinstance(ids, list) or not ids
            or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids)):
        raise ValueError(f"{path}: eos_token_id must be a token id or a non-empty list of them, "
                         f"got {eos!r}")
    return list(dict.fromkeys(ids))


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerFast:
    """The tokenizer of a model or tokenizer directory (`tokenizer.json` and its config) as
    transformers' `PreTrainedTokenizerFast`: no code from the directory runs. Needs the
    `lm-model[hf]` extra."""
    try:
        from transformers import PreTrainedTokenizerFast
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("load_tokenizer needs transformers: pip install 'lm-model[hf]'") from e
    directory = Path(directory)
    if not (directory / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{directory / 'tokenizer.json'} not found: export the model "
                                "with save_hf(model, dir, tokenizer_dir=...)")
    return PreTrainedTokenizerFast.from_pretrained(str(directory))


def load_dir(directory: str | Path, *, device: str | None = None,
             dtype: str = "auto") -> tuple[Transformer, PreTrainedTokenizerFast]:
    """The model (in eval mode) and tokenizer of a directory written by `save_hf(...,
    tokenizer_dir=)`, for inference: placement by `inference_placement` (`dtype="auto"`:
    bfloat16 on CUDA, float32 on CPU). Needs the `lm-model[hf]` extra."""
    directory = Path(directory)
    tokenizer = load_tokenizer(directory)  # before the weights: a missing file fails fast
    device, torch_dtype = inference_placement(device, dtype)
    model = load_hf(directory, dtype=torch_dtype, device=device).eval()
    if len(tokenizer) > model.config.vocab_size:
        raise ValueError(f"{directory}: the tokenizer has {len(tokenizer)} tokens, more than the "
                         f"model's vocab_size of {model.config.vocab_size}")
    # Callers keep inputs within the model's context themselves (chat refuses a long prompt,
    # evaluation slides windows); the tokenizer's own limit would only warn about long texts.
    tokenizer.model_max_length = 1 << 62
    return model, tokenizer


def verify_hf(model: Transformer, directory: str | Path, *, atol: float = 1e-5,
              batch_size: int = 2, seq_len: int = 32, seed: int = 0) -> float:
    """Load `directory` with transformers and check its logits match `model`'s.

    Returns the max absolute difference; raises `ValueError` above `atol`. Needs the
    `lm-model[hf]` extra.
    """
    try:
        from transformers import AutoModelForCausalLM
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("verify_hf needs transformers: pip install 'lm-model[hf]'") from e
    hf_model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    hf_model.eval()
    seq_len = min(seq_len, model.config.max_seq_len)
    tokens = torch.randint(0, model.config.vocab_size, (batch_size, seq_len),
                           generator=torch.Generator().manual_seed(seed))
    was_training = model.training
    model.eval()
    param = next(model.parameters())
    with torch.no_grad():
        ours = model(tokens.to(param.device)).float().cpu()
        theirs = hf_model(tokens).logits.float()
    model.train(was_training)
    diff = (ours - theirs).abs().max().item()
    if not diff <= atol:
        raise ValueError(
            f"{directory}: transformers logits differ from ours by {diff:.3g} > {atol}"
        )
    return diff
