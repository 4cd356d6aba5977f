"""The vocabulary study on the Gutenberg books: train on 19, measure on a held-out one.

    uv run python bench/tok_study.py [--out DIR]

Writes the 19 training books and the held-out "Wuthering Heights" (Project Gutenberg
header and footer removed) as text files, runs `lm_tok.run_study` at 4k/8k/16k/32k and
prints the table (bytes/token, tokens/word, vocabulary used on the held-out book).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tok_bench import books

from lm_tok import StudyConfig, run_study
from lm_tok.study import table


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--out", type=Path, default=None, help="keep the study here (default: a temp dir)"
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        b = books()
        heldout = b.pop("Wuthering Heights")
        out.mkdir(parents=True, exist_ok=True)
        (out / "train.txt").write_text("\n".join(b.values()), encoding="utf-8")
        (out / "heldout.txt").write_text(heldout, encoding="utf-8")
        cfg = StudyConfig(
            inputs=(out / "train.txt",),
            heldout=(out / "heldout.txt",),
            output=out / "study",
            progress=False,
        )
        print(table(run_study(cfg)), end="")


if __name__ == "__main__":
    main()
