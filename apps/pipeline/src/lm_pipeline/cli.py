"""`lm-pipeline`: parse the preset and flags into a `PipelineConfig`, then run it.

    uv run lm-pipeline                                  # the demo pack, preset demo
    uv run lm-pipeline --preset micro --run-dir /tmp/m  # minutes: every stage, tiny
    uv run lm-pipeline --from sft --sft.max-steps 200   # redo from SFT with new settings
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import tyro

from lm_pipeline.config import PRESETS, STAGES, PipelineConfig
from lm_pipeline.pipeline import main as run


def parse(argv: list[str]) -> tuple[PipelineConfig, str | None]:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default="demo", choices=sorted(PRESETS))
    pre.add_argument("--from", dest="redo_from", default=None, choices=STAGES,
                     help="redo this stage and every later one")
    known, rest = pre.parse_known_args(argv)
    try:
        base = PipelineConfig.from_preset(known.preset, run_dir=Path("runs") / known.preset)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"lm-pipeline: {e}") from e
    description = (f"Preset {known.preset!r} (choose with --preset {{{','.join(sorted(PRESETS))}}}); "
                   f"--from {{{','.join(STAGES)}}} redoes a stage and the ones after it. "
                   "Every flag below overrides the preset.")
    cfg = tyro.cli(PipelineConfig, default=base, args=rest, prog="lm-pipeline",
                   description=description)
    return cfg, known.redo_from


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    cfg, redo_from = parse(sys.argv[1:] if argv is None else argv)
    report = run(cfg, redo_from=redo_from)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
