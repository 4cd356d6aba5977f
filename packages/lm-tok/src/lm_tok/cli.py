"""`lm-tok train | encode | study | inspect [CONFIG.toml] [--field VALUE ...]`: load, then call.

    lm-tok train --inputs books.jsonl.gz --output tok/ --tokenizer.vocab_size 32768
    lm-tok encode --tokenizer tok/ --inputs docs.jsonl.gz --output shards/ --workers 8
    lm-tok study --inputs books.jsonl.gz --output study/ --vocab_sizes 4096 8192 16384 32768
    lm-tok inspect --tokenizer tok/ --text "In 2024, 1234567 tokens."
    lm-tok train train.toml --tokenizer.vocab_size 8192   # flags override the file

Each command that writes a directory also writes its resolved config there
(`lm-tok-COMMAND.toml`), so `lm-tok COMMAND OUTPUT/lm-tok-COMMAND.toml` repeats it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from lm_core.cli import Command
from lm_core.cli import main as cli_main
from lm_core.config import write_resolved
from lm_tok.config import EncodeConfig, InputError, InspectConfig, StudyConfig, TokenizerTrainConfig
from lm_tok.explain import explain
from lm_tok.shards import encode_corpus
from lm_tok.study import run_study, table
from lm_tok.train import main as train_main


def _train(cfg: TokenizerTrainConfig) -> None:
    train_main(cfg)
    write_resolved(cfg, cfg.output, "lm-tok-train.toml")


def _encode(cfg: EncodeConfig) -> None:
    m = encode_corpus(cfg)
    write_resolved(cfg, cfg.output, "lm-tok-encode.toml")
    print(f"{m['num_documents']} documents, {m['num_tokens']} tokens ({m['dtype']}) in "
          f"{len(m['shards'])} shards under {cfg.output}; {m['skipped']} records skipped")
    if not m["num_documents"]:  # an empty corpus is never what was asked for: fail the command
        listed = f" (each listed in {cfg.output / 'skipped.jsonl'})" if m["skipped"] else ""
        raise InputError(f"no documents encoded: {m['skipped']} records skipped{listed}")


def _study(cfg: StudyConfig) -> None:
    results = run_study(cfg)
    write_resolved(cfg, cfg.output, "lm-tok-study.toml")
    print(table(results), end="")


def _inspect(cfg: InspectConfig) -> None:
    print(explain(cfg.tokenizer, cfg.text, cfg.backend))


def _command(config: type, run: Callable[[Any], None], help: str) -> Command:
    # ImportError: a missing optional extra (parquet, plot) is the user's to install, not a bug.
    return Command(config, run, help, errors=(ImportError,))


COMMANDS: dict[str, Command] = {
    "train": _command(TokenizerTrainConfig, _train,
                      "train a byte-level BPE tokenizer and save its directory"),
    "encode": _command(EncodeConfig, _encode, "encode documents into token shards"),
    "study": _command(StudyConfig, _study,
                      "train at several vocabulary sizes and compare them on held-out text"),
    "inspect": _command(InspectConfig, _inspect, "show how a string splits into tokens"),
}


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main("lm-tok", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
