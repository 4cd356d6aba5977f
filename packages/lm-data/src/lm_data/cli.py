"""`lm-data run CONFIG [--workers N ...]` and `lm-data report DIR`: parse, then call."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tomllib
from pathlib import Path
from typing import Any

from lm_data.config import ConfigError, PipelineConfig


def load_config(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """Read a TOML or YAML file, apply `section.key=value` overrides (value parsed as JSON if it can be,
    else kept as a string that the field's type coerces: `dedup.minhash=False` is False).

    Every problem raises `ConfigError` naming the file (and line, or `section.field`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    data = _read(path)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"override {item!r}: expected section.key=value")
        section, field = key.split(".", 1)
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section}: must be a table, got {table!r}")
        table[field] = value
    try:
        return PipelineConfig.from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def _read(path: Path) -> dict[str, Any]:
    """The mapping of a TOML or YAML file; a syntax error is one line naming the file and line."""
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
            problem = getattr(e, "problem", None) or str(e)
            raise ConfigError(f"{where}: invalid YAML: {problem}") from None
        data = {} if data is None else data
    elif path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:  # its message ends "(at line L, column C)"
            raise ConfigError(f"{path}: invalid TOML: {e}") from None
    else:
        raise ConfigError(f"{path}: config must be .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of sections, got {type(data).__name__}")
    return data


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lm-data", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run (or resume) the pipeline of a TOML/YAML config")
    r.add_argument("config")
    r.add_argument("--workers", type=int, help="executor.workers")
    r.add_argument("--tasks", type=int, help="executor.tasks")
    r.add_argument("--executor", choices=["local", "slurm", "ray"], help="executor.kind")
    r.add_argument("--output-dir", help="output.dir")
    r.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a field")
    r.add_argument("--no-report", action="store_true", help="skip writing report/ after a local run")
    rep = sub.add_parser("report", help="write report/report.md and funnel.png for a run folder")
    rep.add_argument("dir")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from lm_data.pipeline import run
    from lm_data.report import write_report

    if args.command == "report":
        try:
            print(write_report(args.dir))
        except (FileNotFoundError, ValueError) as e:
            print(f"lm-data: {e}", file=sys.stderr)
            return 2
        return 0
    flags = {"executor.workers": args.workers, "executor.tasks": args.tasks,
             "executor.kind": args.executor, "output.dir": args.output_dir}
    overrides = [f"{k}={json.dumps(v)}" for k, v in flags.items() if v is not None] + args.set
    try:
        cfg = load_config(args.config, overrides)
    except (ConfigError, FileNotFoundError) as e:
        print(f"lm-data: {e}", file=sys.stderr)
        return 2
    root = run(cfg)
    if cfg.executor.kind == "local" and not args.no_report:
        print(write_report(root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
