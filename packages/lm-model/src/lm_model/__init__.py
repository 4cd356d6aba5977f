"""lm-model: a Llama-3-family causal transformer in plain PyTorch.

The architecture (`Transformer`), its config and presets, KV-cache generation, and the
Hugging Face format in `lm_model.hf` (`save_hf`, `load_hf`, `verify_hf`, and for inference
`load_dir` with `stop_ids`).
"""

from lm_model.config import PRESETS, ModelConfig, RopeScaling
from lm_model.generate import generate, sample_next
from lm_model.hf import load_dir, load_hf, save_hf, stop_ids, verify_hf
from lm_model.model import (
    Attention,
    FeedForward,
    KVCache,
    Transformer,
    TransformerBlock,
    apply_rope,
)

__all__ = [
    "PRESETS",
    "Attention",
    "FeedForward",
    "KVCache",
    "ModelConfig",
    "RopeScaling",
    "Transformer",
    "TransformerBlock",
    "apply_rope",
    "generate",
    "load_dir",
    "load_hf",
    "sample_next",
    "save_hf",
    "stop_ids",
    "verify_hf",
]
