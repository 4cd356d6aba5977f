"""`lm-evaluate run | harness [CONFIG.toml] [--field VALUE ...]`: load the config, run.

    lm-evaluate run --model out/hf --limit 100 --output eval/
    lm-evaluate run --model out/hf --tasks piqa mmlu --mmlu_shots 5
    lm-evaluate run --model out/hf --tasks piqa --files.piqa my/piqa.jsonl
    lm-evaluate harness --model out/hf --tasks my_task --include_path tasks/

With an output folder, the resolved config is written there (`lm-evaluate-COMMAND.toml`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from lm_core.cli import Command
from lm_core.cli import main as cli_main
from lm_core.config import write_resolved
from lm_evaluate.config import EvalConfig, HarnessConfig
from lm_evaluate.runner import evaluate, markdown_table


def _run(cfg: EvalConfig) -> None:
    results = evaluate(cfg, progress=True)
    if cfg.output is not None:
        write_resolved(cfg, cfg.output, "lm-evaluate-run.toml")
    print(markdown_table(results), end="")


def _harness(cfg: HarnessConfig) -> None:
    from lm_evaluate.harness import run_harness

    results = run_harness(cfg)
    if cfg.output is not None:
        write_resolved(cfg, cfg.output, "lm-evaluate-harness.toml")
    print(json.dumps(results["results"], indent=2))


COMMANDS: dict[str, Command] = {
    "run": Command(EvalConfig, _run, "score a model directory on local-file tasks"),
    "harness": Command(HarnessConfig, _harness, "run EleutherAI lm-eval tasks on a model directory"),
}


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main("lm-evaluate", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
