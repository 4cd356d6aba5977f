"""HTML to main text, with every failed extraction kept under `excluded/extraction/`.

datatrove's extractors drop empty results and timeouts without an exclusion writer. `Extraction`
runs any datatrove extractor's `extract` in datatrove's `ExtractorSandbox` (per-page timeout, a
crash kills only the child) as a `BaseFilter`, so each drop has a reason and is written out.
Only HTML documents (`content_type == text/html`, as the WARC reader marks them) are extracted:
WET documents and those of other inputs (JSONL, Parquet, text) pass through untouched.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.extractors.base import BaseExtractor, ExtractorSandbox
from datatrove.pipeline.extractors.trafilatura import Trafilatura
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from lm_data.config import ExtractConfig

STARTUP_TIMEOUT = 120.0
"""Seconds the extractor's process may take to start (fork, import the extractor, warm up)."""


class Resiliparse(BaseExtractor):
    """Resiliparse main-content extraction (`extract_plain_text(main_content=True)`)."""

    name = "⛏ Resiliparse"
    _requires_dependencies: ClassVar[list] = ["resiliparse"]

    def __init__(self, timeout: float = 1.0, preserve_formatting: bool = True) -> None:
        super().__init__(timeout)
        self.preserve_formatting = preserve_formatting

    def extract(self, text: str) -> str:
        from resiliparse.extract.html2text import extract_plain_text

        return extract_plain_text(
            text,
            preserve_formatting=self.preserve_formatting,
            main_content=True,
            list_bullets=True,
            alt_texts=False,
            links=False,
            comments=False,
        ).strip()


def make_extractor(cfg: ExtractConfig) -> BaseExtractor:
    """The datatrove extractor named by the config."""
    if cfg.extractor == "trafilatura":
        return Trafilatura(favour_precision=cfg.favour_precision, timeout=cfg.timeout)
    if cfg.extractor == "resiliparse":
        try:
            import resiliparse  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "extract.extractor = 'resiliparse' needs `pip install lm-data[resiliparse]`"
            ) from e
        return Resiliparse(timeout=cfg.timeout)
    raise ValueError(f"extract.extractor: no extractor for {cfg.extractor!r}")


class Extraction(BaseFilter):
    """Replaces HTML with its main text; drops (and writes out) pages that give no text."""

    name = "⛏ Extraction"

    def __init__(self, extractor: BaseExtractor, exclusion_writer: DiskWriter | None = None,
                 inputs: Collection[str] | None = None) -> None:
        super().__init__(exclusion_writer)
        self.extractor = extractor
        # Names of the inputs whose documents are extracted (metadata.input); None: all.
        self.inputs = frozenset(inputs) if inputs is not None else None
        self._sandbox: ExtractorSandbox | None = None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with ExtractorSandbox(timeout=self.extractor.timeout, warmup_text="") as sandbox:
            self._sandbox = sandbox
            yield from super().run(data, rank, world_size)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if doc.metadata.get("content_type") != "text/html":
            return True
        if self.inputs is not None and doc.metadata.get("input") not in self.inputs:
            return True
        assert self._sandbox is not None, "filter() runs inside run()"
        self._start(self._sandbox)
        try:
            text = self._sandbox.process_document(doc.text, self.extractor.extract)
        except TimeoutError:
            return False, "timeout"
        except EOFError:
            return False, "extractor_crashed"
        except Exception as e:
            doc.metadata["extraction_error"] = f"{type(e).__name__}: {e}"[:300]
            return False, "extractor_error"
        if not text or not text.strip():
            return False, "empty_extraction"
        doc.text = text
        return True

    def _start(self, sandbox: ExtractorSandbox) -> None:
        """Start (or restart, after a timeout) the extractor's process under its own deadline.

        datatrove's sandbox gives the process start the page's timeout: on a loaded machine the
        import of the extractor alone can take longer, and then every page after a restart
        timed out in turn (seen in CI: all three pages of a WARC). Start-up is not a page's time.
        """
        page_timeout = sandbox.timeout
        sandbox.timeout = max(page_timeout, STARTUP_TIMEOUT)
        try:
            sandbox._ensure_process(self.extractor.extract)  # a no-op while the process lives
        finally:
            sandbox.timeout = page_timeout
