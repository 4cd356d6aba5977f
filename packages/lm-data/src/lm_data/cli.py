"""`lm-data run CONFIG.toml [--section.field VALUE ...]` and `lm-data report --dir RUN`.

    lm-data run examples/local.toml --executor.workers 8 --output.dir runs/cc
    lm-data report --dir runs/cc

`run` writes the resolved config to `<output.dir>/config.toml`, `report` to
`<dir>/report/lm-data-report.toml`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lm_core.cli import Command
from lm_core.cli import main as cli_main
from lm_core.config import write_resolved
from lm_data.config import CurationConfig, ReportConfig


def _run(cfg: CurationConfig) -> None:
    # datatrove and its readers load lazily: `lm-data --help` stays fast.
    from lm_data.pipeline import run
    from lm_data.report import write_report

    root = run(cfg)
    if cfg.executor.kind == "local" and cfg.report:
        print(write_report(root))


def _report(cfg: ReportConfig) -> None:
    from lm_data.report import write_report

    out = write_report(cfg.dir)
    write_resolved(cfg, out.parent, "lm-data-report.toml")
    print(out)


COMMANDS: dict[str, Command] = {
    "run": Command(CurationConfig, _run, "run (or resume) the curation a config describes"),
    "report": Command(ReportConfig, _report,
                      "write report/report.md and funnel.png for a run folder"),
}


def main(argv: Sequence[str] | None = None) -> int:
    return cli_main("lm-data", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
