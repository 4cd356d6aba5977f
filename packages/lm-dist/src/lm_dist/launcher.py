"""`launch(cfg, nproc)`: a pretraining run on `nproc` processes of this host.

One process trains in the caller's process (`train(cfg)`); several run the `lm-dist train`
command under torchrun (`python -m torch.distributed.run --standalone`), one process per
rank, from the resolved config written to `<run_dir>/config.toml`. Their output goes to a
log file (and to stderr); a failed run raises `LaunchError` naming the ranks' errors and
quoting the log's last lines, so the caller sees why, not only torchrun's exit code.
"""

from __future__ import annotations

import logging
import re
import shlex
import subprocess
import sys
from collections import deque
from pathlib import Path

from lm_dist.config import TrainConfig
from lm_dist.metrics import RunMetrics, read_metrics
from lm_dist.trainer import train

logger = logging.getLogger(__name__)

TAIL_LINES = 40
"""Lines of the log a `LaunchError` quotes."""

# What a failed rank says: lm-core's one-line CLI error ("lm-dist train: error: ..."), or, for
# an unexpected exception, a traceback as "[rankN]: ..." lines whose last unindented one is
# the exception (torchrun's own report that follows names none).
_CLI_ERROR = re.compile(r"^(lm-dist \w+: error: .+)$")
_RANK_LINE = re.compile(r"^\[rank(\d+)\]: (?! )(?!Traceback)(.+)$")


class LaunchError(RuntimeError):
    """A torchrun launch that exited with an error; the message ends with its log's tail."""


def _note_error(line: str, errors: dict[str, str]) -> None:
    """Keep what a log line says about a failed rank (by rank; "" for a CLI error)."""
    if match := _RANK_LINE.match(line):
        errors[f"rank {match[1]}: "] = match[2].rstrip()
    elif match := _CLI_ERROR.match(line.rstrip()):
        errors[""] = match[1]


def torchrun_command(config_file: str | Path, nproc: int) -> list[str]:
    """The command that trains `config_file` on `nproc` local processes."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={nproc}", "-m", "lm_dist", "train", str(config_file)]


def launch(cfg: TrainConfig, nproc: int = 1, *, log: str | Path | None = None,
           echo: bool = True) -> RunMetrics:
    """Train `cfg` on `nproc` processes and return what the run logged (`read_metrics`).

    nproc == 1 trains in this process (errors propagate as they are). nproc > 1 runs
    torchrun; its output is written to `log` (default `<run_dir>/launch.log`) and, with
    `echo`, to stderr. A non-zero exit raises `LaunchError` quoting the log's last lines.
    """
    if not isinstance(nproc, int) or isinstance(nproc, bool) or nproc < 1:
        raise ValueError(f"nproc must be a positive integer, got {nproc!r}")
    run_dir = Path(cfg.run_dir)
    if nproc == 1:
        train(cfg)
    else:
        _torchrun(cfg, nproc, Path(log) if log is not None else run_dir / "launch.log", echo)
    return read_metrics(run_dir)


def _torchrun(cfg: TrainConfig, nproc: int, log: Path, echo: bool) -> None:
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # The trainer rewrites this file with the layout it resolved (parallel degrees).
    config_file = run_dir / "config.toml"
    config_file.write_text(cfg.to_toml())
    command = torchrun_command(config_file.resolve(), nproc)
    logger.info("training on %d processes: %s (log: %s)", nproc, shlex.join(command), log)
    log.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    errors: dict[str, str] = {}  # by rank ("" for CLI errors, which do not name theirs)
    with open(log, "w", encoding="utf-8") as out, subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace") as proc:
        try:
            for line in proc.stdout:
                out.write(line)
                tail.append(line)
                _note_error(line, errors)
                if echo:
                    sys.stderr.write(line)
            code = proc.wait()
        except BaseException:
            # Interrupted (Ctrl-C) or failing here: do not leave the ranks running.
            proc.terminate()
            proc.wait()
            raise
    if code != 0:
        raised = "".join(f"\n  {rank}{error}" for rank, error in sorted(errors.items()))
        raise LaunchError(f"training on {nproc} processes failed (torchrun exit code {code})"
                          f"{raised}\nlast lines of {log}:\n{''.join(tail).rstrip()}")


__all__ = ["TAIL_LINES", "LaunchError", "launch", "torchrun_command"]
