"""`lm-evaluate run | harness`: parse flags into a config and call the runner.

    lm-evaluate run --model out/hf --limit 100 --output eval/
    lm-evaluate run --model out/hf --tasks piqa mmlu --mmlu-shots 5
    lm-evaluate harness --model out/hf --tasks my_task --include-path tasks/
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import tyro

from lm_evaluate.config import ConfigError, EvalConfig, HarnessConfig, InputError
from lm_evaluate.runner import evaluate, markdown_table


def _run(cfg: EvalConfig) -> None:
    print(markdown_table(evaluate(cfg, progress=True)), end="")


def _harness(cfg: HarnessConfig) -> None:
    from lm_evaluate.harness import run_harness

    results = run_harness(cfg)
    print(json.dumps(results["results"], indent=2))


Command = (Annotated[EvalConfig, tyro.conf.subcommand("run")]
           | Annotated[HarnessConfig, tyro.conf.subcommand("harness")])


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        cfg = tyro.cli(Command, args=sys.argv[1:] if argv is None else argv)  # type: ignore[arg-type]
        if isinstance(cfg, EvalConfig):
            _run(cfg)
        else:
            _harness(cfg)
    except (ConfigError, InputError, FileNotFoundError) as e:
        # Only what lm-evaluate reports about its config and inputs: any other exception is a
        # bug and keeps its traceback.
        raise SystemExit(f"lm-evaluate: {e}") from e


if __name__ == "__main__":
    main()
