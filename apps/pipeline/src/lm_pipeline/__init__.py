"""lm-pipeline: raw crawl bytes to an aligned chat model, every stage cached in a run directory."""

from lm_pipeline.config import PRESETS, STAGES, PipelineConfig, demo_dir
from lm_pipeline.pipeline import main

__all__ = ["PRESETS", "STAGES", "PipelineConfig", "demo_dir", "main"]
