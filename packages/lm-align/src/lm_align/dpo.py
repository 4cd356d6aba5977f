"""Direct preference optimisation with trl's `DPOTrainer`: Hugging Face directory in, one out.

The reference model is loaded from the starting directory (or `ref_model`) and stays
frozen. Held-out reward accuracy and margins are measured before and after training;
before, the policy is the reference, so every reward is 0 and trl's accuracy (a strict
`>`) is 0 by construction.
"""

from __future__ import annotations

import logging
from typing import Any

from lm_align.config import DPORunConfig, trainer_kwargs
from lm_align.data import load_splits
from lm_align.hf_dir import load_model, load_tokenizer, save_output, stop_ids

logger = logging.getLogger(__name__)


def _held_out(metrics: dict[str, float]) -> dict[str, float]:
    keys = {"eval_loss": "loss", "eval_rewards/accuracies": "reward_accuracy",
            "eval_rewards/margins": "reward_margin", "eval_rewards/chosen": "chosen_reward",
            "eval_rewards/rejected": "rejected_reward"}
    return {ours: float(metrics[theirs]) for theirs, ours in keys.items() if theirs in metrics}


def run_dpo(cfg: DPORunConfig) -> dict[str, Any]:
    """Train, save `cfg.output` as a Hugging Face directory, return the metrics written to
    `metrics.json`: held-out DPO loss, reward accuracy and margins `before` and `after`,
    the trainer's `train` metrics and the `data` counts."""
    from trl import DPOConfig, DPOTrainer

    stops = stop_ids(cfg.model)
    splits = load_splits(cfg.data, "preference")
    tokenizer = load_tokenizer(cfg.model)
    model = load_model(cfg.model)
    reference = load_model(cfg.ref_model or cfg.model)
    args = DPOConfig(
        **trainer_kwargs(cfg.train, cfg.output), beta=cfg.beta, loss_type=[cfg.loss_type]
    )
    train, held = splits.datasets()
    trainer = DPOTrainer(model=model, ref_model=reference, args=args, train_dataset=train,
                         eval_dataset=held, processing_class=tokenizer)
    before = _held_out(trainer.evaluate())
    result = trainer.train()
    after = _held_out(trainer.evaluate())
    logger.info(
        "held-out reward accuracy %.3f -> %.3f, margin %.4f -> %.4f",
        before["reward_accuracy"],
        after["reward_accuracy"],
        before["reward_margin"],
        after["reward_margin"],
    )
    metrics = {"stage": "dpo", "beta": cfg.beta, "loss_type": cfg.loss_type, "before": before,
               "after": after, "train": result.metrics, "data": splits.report()}
    save_output(trainer, tokenizer, cfg.output, stops=stops, run_config=cfg, stage="dpo",
                metrics=metrics, skipped=splits.skipped)
    return metrics


def main(cfg: DPORunConfig) -> None:
    m = run_dpo(cfg)
    print(f"DPO: held-out reward accuracy {m['before']['reward_accuracy']:.3f} -> "
          f"{m['after']['reward_accuracy']:.3f}, margin {m['after']['reward_margin']:.4f} "
          f"({m['data']['train_examples']} training pairs); wrote {cfg.output}")
