"""Supervised fine-tuning with trl's `SFTTrainer`: Hugging Face directory in, one out.

The chat template comes with the input directory's tokenizer (lm-tok's marks each reply
and its end-of-turn token as a generation block), so `assistant_only_loss` trains exactly
the replies and where they stop. The held-out loss is measured before and after training.
"""

from __future__ import annotations

import logging
from typing import Any

from lm_align.config import SFTRunConfig, trainer_kwargs
from lm_align.data import load_splits
from lm_align.hf_dir import load_model, load_tokenizer, save_output, stop_ids

logger = logging.getLogger(__name__)


def _held_out(metrics: dict[str, float]) -> dict[str, float]:
    keys = ("eval_loss", "eval_mean_token_accuracy", "eval_entropy")
    return {k.removeprefix("eval_"): float(metrics[k]) for k in keys if k in metrics}


def run_sft(cfg: SFTRunConfig) -> dict[str, Any]:
    """Train, save `cfg.output` as a Hugging Face directory, return the metrics written to
    `metrics.json`: held-out loss and token accuracy `before` and `after`, the trainer's
    `train` metrics and the `data` counts."""
    from trl import SFTConfig, SFTTrainer

    stops = stop_ids(cfg.model)
    splits = load_splits(cfg.data, "sft")
    tokenizer = load_tokenizer(cfg.model, need_generation_blocks=cfg.assistant_only_loss)
    model = load_model(cfg.model)
    args = SFTConfig(
        **trainer_kwargs(cfg.train, cfg.output),
        assistant_only_loss=cfg.assistant_only_loss,
        packing=cfg.packing,
        eval_packing=False,
    )
    train, held = splits.datasets()
    trainer = SFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=held,
                         processing_class=tokenizer)
    before = _held_out(trainer.evaluate())
    result = trainer.train()
    after = _held_out(trainer.evaluate())
    logger.info("held-out SFT loss %.4f -> %.4f", before["loss"], after["loss"])
    metrics = {"stage": "sft", "before": before, "after": after, "train": result.metrics,
               "data": splits.report()}
    save_output(trainer, tokenizer, cfg.output, stops=stops, run_config=cfg, stage="sft",
                metrics=metrics, skipped=splits.skipped)
    return metrics


def main(cfg: SFTRunConfig) -> None:
    m = run_sft(cfg)
    print(f"SFT: held-out loss {m['before']['loss']:.4f} -> {m['after']['loss']:.4f} "
          f"({m['data']['train_examples']} training examples); wrote {cfg.output}")
