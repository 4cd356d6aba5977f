"""lm-data: Common Crawl style web data filtering on datatrove, offline, with a removal report."""

from lm_data.config import (
    CurationConfig,
    DecontamConfig,
    DedupConfig,
    ExecutorConfig,
    ExtractConfig,
    InputConfig,
    LanguageConfig,
    OutputConfig,
    PIIConfig,
    QualityConfig,
    URLFilterConfig,
)
from lm_data.pipeline import build_stages, run
from lm_data.report import write_report

__all__ = [
    "CurationConfig",
    "DecontamConfig",
    "DedupConfig",
    "ExecutorConfig",
    "ExtractConfig",
    "InputConfig",
    "LanguageConfig",
    "OutputConfig",
    "PIIConfig",
    "QualityConfig",
    "URLFilterConfig",
    "build_stages",
    "run",
    "write_report",
]
