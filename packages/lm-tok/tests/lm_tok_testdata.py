"""Test data of lm-tok's tests: small real text and hard strings (imported via conftest's path)."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from lm_core.testing import shared_data_dir

# LM_SHARED_DATA points elsewhere; without the data these tests error (never skip), so none
# passes vacuously.
DATA = shared_data_dir(__file__)
SHAKESPEARE = DATA / "pretrain" / "tinyshakespeare.txt"
C4 = DATA / "web" / "text" / "c4-en-sample-1000.jsonl.gz"


def read_jsonl_gz(path: Path, n: int | None = None) -> list[dict]:
    with gzip.open(path, "rb") as f:
        rows = [json.loads(line) for line in f]
    return rows[:n] if n else rows


def _random_valid_text(rng: random.Random, n: int) -> str:
    """Random bytes decoded with replacement: valid text, never a lone surrogate."""
    return bytes(rng.randrange(256) for _ in range(n)).decode("utf-8", errors="replace")


def hard_texts() -> list[str]:
    rng = random.Random(0)
    planes = "".join(
        chr(cp)
        for cp in (
            0x41,
            0xE9,
            0x3B1,
            0x416,
            0x5D0,
            0x627,
            0x915,
            0xE01,
            0x1100,
            0x4E2D,
            0xAC00,
            0xFB01,
            0xFFFD,
            0x10348,
            0x1D11E,
            0x1F600,
            0x20000,
            0x2A6D6,
            0x30000,
            0xE0041,
            0xF0000,
            0x10FFFD,
        )
    )
    return [
        planes,
        "👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs, 🇫🇷🇯🇵 flags, 1️⃣ keycap",
        "中文分词很难。日本語のテキスト、カタカナ。한국어 문장입니다.",
        "مرحبا بالعالم — שלום עולם (RTL) with ‏marks‎ and ‮override‬",
        "control: \x00\x01\x07\x08\x1b[31mred\x1b[0m\x7f\x85\u2028\u2029 end",
        " " * 67 + "x" + "\t" * 9 + "y" + "\n" * 13 + "z" + " \r\n" * 5 + "\u3000\u00a0\u2003",
        "def f(x):\n\tif x:\n\t\treturn {'a': [1, 2]}  # comment\n    else:\r\n        pass\n",
        "In 2024, 1234567 people paid $3.14 or 1,000,000.00 — \u0661\u0662\u0663\u0664\u0665 and "
        "\uff14\uff15\uff16\uff17\uff18",
        "CamelCaseWords don't won't I'M they'RE it's y'all #hashtag @user http://x.y/z?q=1&r=2",
        "e\u0301 vs \u00e9, A\u030a vs \u00c5, ﬁ ligature, Ⅻ numerals, ½ fractions",
        _random_valid_text(rng, 3000),
        _random_valid_text(rng, 200),
        "",
        " ",
        "\n",
    ]


def training_texts() -> list[str]:
    """Real English plus web text, with numbers and code so digit and indentation rules matter."""
    text = SHAKESPEARE.read_text(encoding="utf-8")[:400_000]
    docs = [text[i : i + 4000] for i in range(0, len(text), 4000)]
    docs += [r["text"] for r in read_jsonl_gz(C4, 200)]
    docs += [
        f"In {1900 + i % 130}, the count was {i * 7919} and then {i * 104729}." for i in range(2000)
    ]
    docs += ["def f(x):\n\tif x:\n\t\treturn x + 1\n    else:\n        return 0\n"] * 200
    return docs + hard_texts()




GUTENBERG = DATA / "pretrain" / "gutenberg-20-books.jsonl.gz"


def gutenberg_books() -> dict[str, str]:
    """Title -> text of the 20 books, Project Gutenberg header and footer removed."""
    import re

    books = {}
    for r in read_jsonl_gz(GUTENBERG):
        t = r["text"]
        start = re.search(r"\*\*\* ?START OF[^\n]*\n", t)
        end = re.search(r"\*\*\* ?END OF", t)
        books[r["title"]] = t[start.end() if start else 0 : end.start() if end else len(t)]
    return books
