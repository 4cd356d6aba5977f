"""Steps for books and other long plain text: Project Gutenberg's licence cut, a length cap.

Both act only on the documents of the inputs they are given (`metadata.input`), so one run
can read books next to web data; other documents pass through untouched and uncounted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

GUTENBERG_START = "*** START OF"
GUTENBERG_END = "*** END OF"


def strip_gutenberg(text: str) -> tuple[str, bool, bool]:
    """(the book without Project Gutenberg's header and footer, header found, footer found).

    The header ends with the line holding `*** START OF ...`, the footer starts at
    `*** END OF ...`; surrounding whitespace is removed in every case.
    """
    start = text.find(GUTENBERG_START)
    if start != -1:
        line_end = text.find("\n", start)
        text = text[line_end + 1:] if line_end != -1 else ""
    end = text.find(GUTENBERG_END)
    if end != -1:
        text = text[:end]
    return text.strip(), start != -1, end != -1


def _selected(doc: Document, inputs: frozenset[str] | None) -> bool:
    return inputs is None or doc.metadata.get("input") in inputs


class GutenbergStrip(BaseFilter):
    """Cuts Project Gutenberg's licence header and footer from each selected document.

    Stats: `stripped` (both found), `no_header`, `no_footer` (kept as they are, less
    surrounding whitespace). A document with nothing left is dropped (reason
    `empty_after_strip`) and written to the exclusion writer.

    Args:
        inputs: names of the inputs whose documents are books; None: every document.
        exclusion_writer: where dropped documents go (`excluded/gutenberg/`).
    """

    name = "📚 Gutenberg header/footer"

    def __init__(self, inputs: Collection[str] | None = None,
                 exclusion_writer: DiskWriter | None = None) -> None:
        super().__init__(exclusion_writer)
        self.inputs = frozenset(inputs) if inputs is not None else None

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if not _selected(doc, self.inputs):
            return True
        doc.text, header, footer = strip_gutenberg(doc.text)
        if header and footer:
            self.stat_update("stripped")
        if not header:
            self.stat_update("no_header")
        if not footer:
            self.stat_update("no_footer")
        if not doc.text:
            return False, "empty_after_strip"
        return True


class TruncateText(PipelineStep):
    """Cuts the documents of some inputs to their first N characters (small runs).

    Args:
        limits: input name -> maximum characters of its documents.
    """

    type = "✂️ - FORMAT"
    name = "✂️ Truncate"

    def __init__(self, limits: Mapping[str, int]) -> None:
        super().__init__()
        self.limits = dict(limits)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            limit = self.limits.get(doc.metadata.get("input"))
            if limit and len(doc.text) > limit:
                doc.text = doc.text[:limit]
                self.stat_update("truncated")
            yield doc


__all__ = ["GutenbergStrip", "TruncateText", "strip_gutenberg"]
