"""lm-align: SFT and DPO post-training with trl, from a Hugging Face directory to another.

Adapters turn real instruction and preference files into trl's conversational format;
`run_sft` and `run_dpo` train with trl's trainers and write Hugging Face directories that
transformers and `lm_model.hf.load_hf` load; `sft_loss` and `preference_metrics` measure
a model on held-out examples.
"""

from lm_align.adapters import (
    FORMATS,
    alpaca,
    chat_messages,
    detect_format,
    gsm8k,
    hh_rlhf,
    load_examples,
    orca_pair,
    self_instruct,
    stack_exchange_pair,
)
from lm_align.config import AlignDataConfig, DPORunConfig, SFTRunConfig, TrainerConfig
from lm_align.dpo import run_dpo
from lm_align.errors import ConfigError, InputError
from lm_align.evaluation import preference_metrics, sft_loss
from lm_align.sft import run_sft

__all__ = [
    "FORMATS",
    "AlignDataConfig",
    "ConfigError",
    "DPORunConfig",
    "InputError",
    "SFTRunConfig",
    "TrainerConfig",
    "alpaca",
    "chat_messages",
    "detect_format",
    "gsm8k",
    "hh_rlhf",
    "load_examples",
    "orca_pair",
    "preference_metrics",
    "run_dpo",
    "run_sft",
    "self_instruct",
    "sft_loss",
    "stack_exchange_pair",
]
