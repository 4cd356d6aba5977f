"""The pre-tokenisation split rule, one definition for training and for both encoders.

Llama-3's rule (GPT-4's, without possessive quantifiers so that Oniguruma in `tokenizers`
and fancy-regex in tiktoken read it the same way): English contractions, letter runs with
one leading non-letter, numbers in groups of at most three digits, punctuation runs,
newline runs, and whitespace runs whose last space joins the next word, so indentation
survives as its own token. The trained tokenizer.json stores this pattern; the tiktoken
encoder reads it back from there, never from this module, so they cannot drift apart.
"""

from __future__ import annotations

from tokenizers import Regex, pre_tokenizers

SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
    r"|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)


def pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    """The split rule, then the byte-to-unicode mapping of byte-level BPE (no regex of its own)."""
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def split_pattern_of(tokenizer_json: dict) -> str:
    """The split regex stored in a tokenizer.json; ValueError if it is not lm-tok's layout."""
    pre = tokenizer_json.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    splits = [s for s in steps if s.get("type") == "Split"]
    levels = [s for s in steps if s.get("type") == "ByteLevel"]
    if len(splits) != 1 or len(levels) != 1 or levels[0].get("use_regex", True):
        raise ValueError(
            "pre_tokenizer: expected Sequence[Split(regex), ByteLevel(use_regex=false)]"
        )
    split = splits[0]
    if split.get("behavior") != "Isolated" or split.get("invert"):
        raise ValueError("pre_tokenizer: the Split step must be behavior=Isolated, invert=false")
    return split["pattern"]["Regex"]
