"""lm-pretrain: cluster pretraining with lm-dist, configs for the small, 1b and 8b presets."""

from lm_pretrain.cli import resolve, shipped_configs

__all__ = ["resolve", "shipped_configs"]
