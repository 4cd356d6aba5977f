"""Drop documents that share a long word n-gram with an evaluation set.

datatrove's own decontamination (`pipeline/decont`) needs lighteval and its task registry; here the
evaluation sets are plain files, as GPT-3 and Llama did it: any shared 13-gram of lower-cased words
removes the document. The reason names the evaluation file.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from lm_core import InputError
from lm_core.jsonl import iter_jsonl
from lm_data.config import DecontamConfig

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> Iterator[str]:
    for i in range(len(tokens) - n + 1):
        yield " ".join(tokens[i : i + n])


def _csv_first_column(handle) -> Iterator[str]:
    for row in csv.reader(handle):
        if row:
            yield row[0]


def iter_eval_texts(path: str | Path, fields: list[str]) -> Iterator[str]:
    """Texts of an evaluation file: JSONL(.gz) (first of `fields` present), CSV, or .tar(.gz) of
    CSVs."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(path) as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".csv"):
                    handle = tar.extractfile(member)
                    assert handle is not None
                    yield from _csv_first_column(io.TextIOWrapper(handle, encoding="utf-8"))
        return
    if ".csv" in name:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            yield from _csv_first_column(f)
        return
    # A bad line is an error (InputError "PATH:LINE: ..."): a silently smaller evaluation set
    # would let contaminated documents through.
    for lineno, row in iter_jsonl(path):
        found = (row[k] for k in fields if isinstance(row, dict) and isinstance(row.get(k), str))
        text = next(found, None)
        if text is None:
            raise InputError(f"{path}:{lineno}: none of the fields {fields} holds text")
        yield text


class Decontamination(BaseFilter):
    """Removes documents sharing an n-gram with any evaluation file (reason: the file's stem)."""

    name = "🧪 Decontamination"

    def __init__(self, cfg: DecontamConfig, exclusion_writer: DiskWriter | None = None) -> None:
        super().__init__(exclusion_writer)
        self.cfg = cfg
        self._index: dict[str, str] | None = None

    def _build_index(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for path in self.cfg.eval_files:
            source = Path(path).name.split(".")[0]
            for text in iter_eval_texts(path, self.cfg.fields):
                for gram in ngrams(words(text), self.cfg.ngram):
                    index.setdefault(gram, source)
        return index

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        if self._index is None:
            self._index = self._build_index()
            self.stat_update("eval_ngrams", value=len(self._index))
        for gram in ngrams(words(doc.text), self.cfg.ngram):
            source = self._index.get(gram)
            if source is not None:
                doc.metadata["contamination_ngram"] = gram
                return False, source
        return True
