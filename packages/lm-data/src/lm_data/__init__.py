"""lm-data: Common Crawl style web data filtering on datatrove, offline, with a removal report."""

from lm_data.config import (
    DecontamConfig,
    DedupConfig,
    ExecutorConfig,
    ExtractConfig,
    InputConfig,
    LanguageConfig,
    OutputConfig,
    PIIConfig,
    PipelineConfig,
    QualityConfig,
    URLFilterConfig,
)
from lm_data.pipeline import build_stages, run
from lm_data.report import write_report

__all__ = [
    "DecontamConfig",
    "DedupConfig",
    "ExecutorConfig",
    "ExtractConfig",
    "InputConfig",
    "LanguageConfig",
    "OutputConfig",
    "PIIConfig",
    "PipelineConfig",
    "QualityConfig",
    "URLFilterConfig",
    "build_stages",
    "run",
    "write_report",
]
