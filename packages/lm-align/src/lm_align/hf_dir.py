"""Reading and writing the Hugging Face directories the stages hand each other.

Weights are read with safetensors only and never with remote code. The tokenizer and the
stop tokens come from the input directory through lm-model's loader (`lm_model.hf`), the
same as lm-chat and lm-evaluate read them; the model itself loads through transformers'
`AutoModelForCausalLM`, which is what trl trains. An output directory holds the model, the
tokenizer with its chat template, a generation config whose eos_token_id is the input's
stop ids (eos and the end-of-turn token for lm-tok tokenizers), `metrics.json`, the resolved
run config and the skipped records; transformers' pickled `training_args.bin` is replaced
by JSON.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from lm_align.errors import InputError
from lm_model import hf as lm_hf

logger = logging.getLogger(__name__)


def load_tokenizer(directory: Path, *, need_generation_blocks: bool = False) -> Any:
    """The directory's tokenizer, checked for a chat template (and its generation blocks)."""
    tokenizer = lm_hf.load_tokenizer(directory)
    template = tokenizer.chat_template
    if not isinstance(template, str):
        raise InputError(f"{directory}: the tokenizer has no chat template (train it with lm-tok)")
    if need_generation_blocks and "{% generation %}" not in template.replace(
        "{%- generation", "{% generation"
    ):
        raise InputError(f"{directory}: the chat template has no {{% generation %}} blocks, which "
                         "assistant_only_loss needs to find the replies")
    if tokenizer.pad_token is None:
        raise InputError(f"{directory}: the tokenizer has no pad token")
    return tokenizer


def stop_ids(directory: Path) -> list[int]:
    """Where the input model's replies end (its `generation_config.json`); read before
    training, so a directory without them fails at once and not after the run."""
    return lm_hf.stop_ids(directory)


def load_model(directory: Path) -> Any:
    """A `transformers` causal LM in float32 from safetensors (training precision is the
    trainer's business: bf16 autocast where the device has it)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        directory, dtype=torch.float32, use_safetensors=True, trust_remote_code=False)


def save_output(trainer: Any, tokenizer: Any, output: Path, *, stops: Sequence[int],
                run_config: Any, stage: str, metrics: dict[str, Any],
                skipped: list[dict[str, Any]]) -> Path:
    """Write the trained model as a Hugging Face directory plus the run's records (rank 0);
    `stops` (the input's `stop_ids`) become the generation config's eos_token_id."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    generation = model.generation_config
    generation.eos_token_id = list(stops)
    generation.pad_token_id = tokenizer.pad_token_id
    generation.bos_token_id = tokenizer.bos_token_id
    trainer.save_model(str(output))  # every rank takes part (FSDP gathers the full state dict)
    if not trainer.is_world_process_zero():
        return output
    tokenizer.save_pretrained(str(output))
    (output / "training_args.bin").unlink(missing_ok=True)  # a pickle: never shipped
    (output / "trainer_args.json").write_text(trainer.args.to_json_string())
    config = json.loads(json.dumps(asdict(run_config), default=str))
    (output / f"lm-align-{stage}.json").write_text(json.dumps(config, indent=2) + "\n")
    (output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if skipped:
        with (output / "skipped.jsonl").open("w", encoding="utf-8") as f:
            for record in skipped:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
    logger.info("wrote %s", output)
    return output
