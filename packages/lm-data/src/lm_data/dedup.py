"""Sentence dedup (C4's "discard all but one of any three-sentence span occurring more than once").

datatrove's three sentence-dedup stages do the work; `SentenceDedup` replaces only the last one's
bookkeeping. datatrove's `SentenceDedupFilter` writes both the documents it drops and the documents
it merely shortens to its exclusion writer, and records neither `forwarded`/`dropped` nor a reason;
here the exclusion writer receives only dropped documents (full original text, `filter_reason`), so
`output + excluded` still adds up, and the removed spans are counted in the stats instead.
"""

from __future__ import annotations

import contextlib

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.dedup import SentDedupConfig, SentenceDedupFilter
from datatrove.utils.text import split_into_sentences
from datatrove.utils.typeshelper import ExtensionHelperSD, StatHints

from lm_data.config import DedupConfig


def sent_dedup_config(cfg: DedupConfig) -> SentDedupConfig:
    """datatrove's config of all three sentence-dedup stages (they must agree)."""
    return SentDedupConfig(
        n_sentences=cfg.sentence_span, min_doc_words=cfg.sentence_min_words,
        min_num_sentences=cfg.sentence_min_sentences,
    )


def removed_spans(dup_starts: np.ndarray, n_sentences: int) -> int:
    """How many contiguous spans the duplicated n-sentence windows starting at `dup_starts`
    cover."""
    spans, end = 0, -1
    for start in sorted(int(s) for s in dup_starts):
        if start >= end:
            spans += 1
        end = max(end, start + n_sentences)
    return spans


class SentenceDedup(SentenceDedupFilter):
    """Sentence-dedup stage 3: cut duplicated spans; drop documents left empty or too short."""

    name = "💥 Sentence dedup"

    def _duplicates(self, rank: int) -> dict[int, np.ndarray]:
        """Stage 2's (document index -> duplicated window starts) for this rank."""
        names = [f"{d}/{rank:05d}{ExtensionHelperSD.stage_2_duplicates}"
                 for d in self.data_folder.list_files(include_directories=True, recursive=False)]
        found = [n for n in names if self.data_folder.exists(n)]
        if not found:
            return {}
        dups = np.concatenate([self.read_duplicates(f) for f in self.data_folder.open_files(found)])
        dups.sort()
        docs, starts = np.unique(dups["doc"], return_index=True)
        return {int(d): s for d, s in zip(docs, np.split(dups["sent"], starts[1:]), strict=True)}

    def _drop_reason(self, text: str) -> str | None:
        if not text.strip():
            return "empty"
        words = self.config.min_doc_words
        if words > 0 and len(self.tokenizer.word_tokenize(text)) < words:
            return "too_few_words"
        sentences = self.config.min_num_sentences
        if sentences > 0 and len(split_into_sentences(text, self.language)) < sentences:
            return "too_few_sentences"
        return None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        dups = self._duplicates(rank)
        with self.exclusion_writer or contextlib.nullcontext() as writer:
            for idx, doc in enumerate(data):
                self.stat_update(StatHints.total)
                reason = None
                if idx in dups:
                    with self.stats.time_stats:
                        text, _ = self.remove_dup_sentences(doc, dups[idx])
                        reason = self._drop_reason(text)
                    self.stat_update(
                        "removed_spans", value=removed_spans(dups[idx], self.config.n_sentences)
                    )
                    self.stat_update("removed_chars", value=len(doc.text) - len(text))
                    if reason is None:
                        self.stat_update("shortened")
                        doc.metadata["sentence_dedup_removed_chars"] = len(doc.text) - len(text)
                        doc.text = text
                if reason is not None:
                    self.stat_update(StatHints.dropped)
                    self.stat_update(f"dropped_{reason}")
                    doc.metadata["filter_reason"] = reason
                    if writer:
                        writer.write(doc, rank)
                    continue
                self.stat_update(StatHints.forwarded)
                self.update_doc_stats(doc)
                yield doc
