"""Assemble datatrove stages from a `CurationConfig` and run them on an executor.

Stages (each a datatrove executor with its own `logs/<stage>/stats.json` and completion markers):
  filter        read every input (one reader each) -> extract HTML -> books: Gutenberg cut,
                length cap -> URL -> language -> quality -> decontam (-> inputs with
                `filter = false`, read and prepared here) -> work/filtered
                (+ exact-dedup signatures, or MinHash signatures when exact dedup is off)
  exact_find    duplicate ids from the exact signatures
  exact_filter  work/filtered -> drop exact duplicates -> work/exact_deduped (+ MinHash signatures)
  minhash_buckets, minhash_cluster
  (minhash_filter, sentence_find   only with `dedup.sentence`: MinHash filter
                                   -> work/minhash_deduped (+ sentence signatures),
                                   then duplicated sentence spans)
  final         drop near-duplicates (or cut duplicated sentence spans) -> PII -> output/
Every dropped document lands in `excluded/<filter>/`; every input record the reader cannot turn into
a document (WARC: not HTML, unreadable; JSONL/Parquet: malformed, no text; text: not UTF-8, empty)
in `skipped/`. Every document carries the name of the input it came from (`metadata.input`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.executor.base import PipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup import (
    ExactDedupConfig,
    ExactDedupFilter,
    ExactDedupSignature,
    ExactFindDedups,
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
    SentenceDedupSignature,
    SentenceFindDedups,
)
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter, ParquetWriter

from lm_core.config import write_resolved
from lm_data.books import GutenbergStrip, TruncateText
from lm_data.config import CurationConfig, InputConfig
from lm_data.decontam import Decontamination
from lm_data.dedup import SentenceDedup, sent_dedup_config
from lm_data.extraction import Extraction, make_extractor
from lm_data.filters import language_filter, quality_filters, url_filter
from lm_data.pii import pii_formatter
from lm_data.reader import (
    AccountedJsonlReader,
    AccountedParquetReader,
    RobustWarcReader,
    TextReader,
)

logger = logging.getLogger(__name__)


@dataclass
class Stage:
    """One executor's worth of work."""

    name: str
    pipeline: list[PipelineStep]
    tasks: int


class RankFileReader(JsonlReader):
    """Reads exactly `<rank>.jsonl.gz` of a work folder, so dedup ids line up with their
    signatures."""

    name = "📒 Rank file"

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        name = f"{rank:05d}.jsonl.gz"
        if not self.data_folder.isfile(name):
            return
        for doc in self.read_file(name):
            self.stat_update("documents")
            yield doc


def document_text(doc: Document) -> str:
    """What exact dedup hashes (module level so executors can pickle it)."""
    return doc.text


def input_files(paths: list[str], glob: str | None) -> list[Path]:
    """Every input file, folders expanded recursively, sorted; raises if there is none."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += [f for f in p.rglob(glob or "*") if f.is_file()]
        else:
            files.append(p)
    if not files:
        raise FileNotFoundError(f"input.paths: no files in {paths} matching {glob!r}")
    return sorted(f.resolve() for f in files)


class _Layout:
    """Paths of one run folder."""

    def __init__(self, root: str) -> None:
        self.root = Path(root).resolve()

    def __call__(self, *parts: str) -> str:
        return str(self.root.joinpath(*parts))

    def excluded(self, name: str, tag: str = "") -> JsonlWriter:
        # A tag keeps a second writer of one folder in a task from overwriting the first's file.
        return JsonlWriter(self("excluded", name),
                           output_filename=f"${{rank}}-{tag}.jsonl.gz" if tag else None)

    def work(self, method: str):
        """Folder maker under `work/<method>/`."""
        return lambda name: self("work", method, name)


def _reader(inp: InputConfig, index: int, out: _Layout, files: list[Path]) -> PipelineStep:
    """The reader of one input. Readers chain in datatrove (each passes the documents before
    it through), so a task reads its share of every input's files."""
    root = Path(os.path.commonpath([str(f.parent) for f in files]))
    # The first input keeps the file name of single-input runs (resumed runs find it).
    paths_file = out("work", "input_files.txt" if index == 0 else f"input_files-{index}.txt")
    Path(paths_file).parent.mkdir(parents=True, exist_ok=True)
    Path(paths_file).write_text("".join(f"{f.relative_to(root)}\n" for f in files))
    # One skipped file per task and input: readers of one task writing the same file would
    # overwrite each other's records.
    skipped = JsonlWriter(out("skipped"), output_filename=None if index == 0 else
                          f"${{rank}}-input{index}.jsonl.gz")
    common: dict[str, Any] = {"skipped_writer": skipped, "limit": inp.limit,
                              "paths_file": paths_file, "default_metadata": {"input": inp.name}}
    if inp.format == "warc":
        return RobustWarcReader(str(root), max_record_bytes=inp.max_record_bytes, **common)
    if inp.format == "text":
        return TextReader(str(root), **common)
    cls = AccountedJsonlReader if inp.format == "jsonl" else AccountedParquetReader
    return cls(str(root), text_key=inp.text_key, id_key=inp.id_key, **common)


def _input_steps(cfg: CurationConfig, out: _Layout, inputs: list[InputConfig],
                 tag: str = "") -> list[PipelineStep]:
    """For the documents of `inputs`: HTML extraction (WARC inputs), then the cuts of books.
    `tag` names the exclusion files of a second set of these steps in one stage."""
    steps: list[PipelineStep] = []
    warc = [i.name for i in inputs if i.format == "warc"]
    if warc and cfg.extract.extractor != "none":
        steps.append(Extraction(make_extractor(cfg.extract), inputs=warc,
                                exclusion_writer=out.excluded("extraction", tag)))
    books = [i.name for i in inputs if i.gutenberg]
    if books:
        steps.append(GutenbergStrip(books, exclusion_writer=out.excluded("gutenberg", tag)))
    limits = {i.name: i.max_chars for i in inputs if i.max_chars}
    if limits:
        steps.append(TruncateText(limits))
    return steps


def _filter_steps(cfg: CurationConfig, out: _Layout) -> list[PipelineStep]:
    steps = []
    if cfg.url_filter.enabled:
        steps.append(url_filter(cfg.url_filter, out.excluded("url")))
    if cfg.language.enabled:
        steps.append(language_filter(cfg.language, out.excluded("language")))
    steps += quality_filters(cfg.quality, out.excluded)
    if cfg.decontam.eval_files:
        steps.append(
            Decontamination(cfg.decontam, exclusion_writer=out.excluded("decontamination"))
        )
    return steps


def _first_stage(cfg: CurationConfig, out: _Layout, files: list[list[Path]]) -> list[PipelineStep]:
    """Read, prepare and filter every input. The readers of inputs with `filter = false`
    come after the filters: a datatrove reader passes the documents before it through and
    then adds its own, so theirs skip the filters and the run still streams."""
    readers = {inp.name: _reader(inp, i, out, f)
               for i, (inp, f) in enumerate(zip(cfg.inputs, files, strict=True))}
    filtered = [inp for inp in cfg.inputs if inp.filter]
    unfiltered = [inp for inp in cfg.inputs if not inp.filter]
    steps = [readers[inp.name] for inp in filtered]
    if filtered:  # a filter first in a stage would be given no document stream at all
        steps += _input_steps(cfg, out, filtered) + _filter_steps(cfg, out)
    steps += [readers[inp.name] for inp in unfiltered]
    return steps + _input_steps(cfg, out, unfiltered, tag="unfiltered")


@dataclass
class _Dedup:
    """One dedup method: a signature step that ends the stage before it, its finder stages, its
    filter."""

    name: str
    signature: PipelineStep
    find: list[Stage]
    filter: PipelineStep


def _dedups(cfg: CurationConfig, out: _Layout) -> list[_Dedup]:
    """The enabled dedup methods in the order they run: exact, MinHash, sentence."""
    d, lang = cfg.dedup, cfg.quality.language
    dedups = []
    if d.exact:
        ex, w = ExactDedupConfig(content_getter=document_text), out.work("exact")
        dedups.append(
            _Dedup(
                "exact",
                ExactDedupSignature(w("sigs"), config=ex),
                [Stage("exact_find", [ExactFindDedups(w("sigs"), w("dups"), config=ex)], 1)],
                ExactDedupFilter(
                    w("dups"), config=ex, exclusion_writer=out.excluded("exact_dedup")
                ),
            )
        )
    if d.minhash:
        mh = MinhashConfig(
            n_grams=d.n_grams, num_buckets=d.num_buckets, hashes_per_bucket=d.hashes_per_bucket
        )
        w = out.work("minhash")
        dedups.append(
            _Dedup(
                "minhash",
                MinhashDedupSignature(w("sigs"), config=mh, language=lang),
                [
                    Stage(
                        "minhash_buckets",
                        [MinhashDedupBuckets(w("sigs"), w("buckets"), config=mh)],
                        mh.num_buckets,
                    ),
                    Stage(
                        "minhash_cluster",
                        [
                            MinhashDedupCluster(
                                w("buckets"), w("remove"), config=mh, save_cluster_size=True
                            )
                        ],
                        1,
                    ),
                ],
                MinhashDedupFilter(
                    w("remove"),
                    exclusion_writer=out.excluded("minhash_dedup"),
                    load_cluster_sizes=True,
                ),
            )
        )
    if d.sentence:
        sd, w = sent_dedup_config(d), out.work("sentence")
        dedups.append(
            _Dedup(
                "sentence",
                SentenceDedupSignature(w("sigs"), config=sd, language=lang),
                [Stage("sentence_find", [SentenceFindDedups(w("sigs"), w("dups"), config=sd)], 1)],
                SentenceDedup(
                    w("dups"),
                    config=sd,
                    language=lang,
                    exclusion_writer=out.excluded("sentence_dedup"),
                ),
            )
        )
    return dedups


def build_stages(cfg: CurationConfig) -> list[Stage]:
    """The stages of a run, in order; nothing runs and nothing but `work/input_files.txt` is
    written.

    Each dedup method's signatures are computed at the end of the stage before it, over exactly
    the documents that stage wrote, so its filter can re-read them by rank; the last filter joins
    `final`.
    """
    out = _Layout(cfg.output.dir)
    files = [input_files(inp.paths, inp.glob) for inp in cfg.inputs]
    total = sum(map(len, files))
    n = min(cfg.executor.tasks or total, total)
    current = out("work", "filtered")
    stages = [Stage("filter", [*_first_stage(cfg, out, files), JsonlWriter(current)], n)]
    final: list[PipelineStep] = [RankFileReader(current)]
    dedups = _dedups(cfg, out)
    for i, dedup in enumerate(dedups):
        stages[-1].pipeline.append(dedup.signature)
        stages += dedup.find
        if i == len(dedups) - 1:
            final.append(dedup.filter)
            break
        prev, current = current, out("work", f"{dedup.name}_deduped")
        stages.append(
            Stage(
                f"{dedup.name}_filter",
                [RankFileReader(prev), dedup.filter, JsonlWriter(current)],
                n,
            )
        )
        final = [RankFileReader(current)]
    if cfg.pii.enabled:
        final.append(pii_formatter(cfg.pii))
    writer = JsonlWriter if cfg.output.format == "jsonl" else ParquetWriter
    final.append(writer(out("output")))
    stages.append(Stage("final", final, n))
    return stages


def make_executor(cfg: CurationConfig, stage: Stage, index: int,
                  depends: PipelineExecutor | None) -> PipelineExecutor:
    """The datatrove executor of one stage; `logs/<index>_<stage>/` holds its stats and markers."""
    ex = cfg.executor
    logging_dir = str(Path(cfg.output.dir).resolve() / "logs" / f"{index}_{stage.name}")
    common: dict[str, Any] = {
        "pipeline": stage.pipeline, "tasks": stage.tasks, "logging_dir": logging_dir,
        "depends": depends, "skip_completed": ex.skip_completed,
    }
    if ex.kind == "local":
        from datatrove.executor import LocalPipelineExecutor

        return LocalPipelineExecutor(workers=min(ex.workers, stage.tasks), **common)
    if ex.kind == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        return SlurmPipelineExecutor(job_name=f"lm-data-{stage.name}", **common, **ex.slurm)
    from datatrove.executor import RayPipelineExecutor

    return RayPipelineExecutor(workers=ex.workers, **common, **ex.ray)


def run(cfg: CurationConfig) -> Path:
    """Run (or resume) the pipeline; returns the run folder. Finished tasks are skipped."""
    root = Path(cfg.output.dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    write_resolved(cfg, root, "config.toml")
    stages = build_stages(cfg)
    executor = None
    for i, stage in enumerate(stages):
        executor = make_executor(cfg, stage, i, executor)
    assert executor is not None
    logger.info("running %d stages into %s", len(stages), root)
    executor.run()
    return root
