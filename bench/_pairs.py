"""Alternating measurement rounds, shared by the bench scripts: the order rule lives here.

The project's rule for speed figures: each arm runs in its own process, the arms alternate
(A B, then B A, ...) so that a drifting machine (another job starting, clocks, page cache)
does not favour whichever arm always runs first or last, there are at least 5 rounds after an
uncounted warm-up round, and a ratio is the median of the per-round ratios. With more than
two arms a round runs them in order and the next round in reverse (A B C, C B A, ...).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def round_order(arms: Sequence[str], index: int) -> list[str]:
    """The arms in the order of round `index` (0-based): forward on even rounds, reversed on odd."""
    return list(arms) if index % 2 == 0 else list(reversed(arms))


def run_rounds(
    arms: Sequence[str],
    rounds: int,
    measure: Callable[[str], T],
    *,
    warmup: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, list[T]]:
    """`measure(arm)` for every arm, `rounds` times in alternating order; per arm, round by round.

    A warm-up round (every arm once, not returned) runs first unless `warmup` is False.
    After each round `log` gets a line with the round's order and the 1-minute load average.
    """
    if rounds < 1:
        raise ValueError(f"rounds: {rounds} must be >= 1")
    if warmup:
        for arm in arms:
            measure(arm)
        log(f"warm-up round done, load average {load_average()}")
    results: dict[str, list[T]] = {arm: [] for arm in arms}
    for index in range(rounds):
        order = round_order(arms, index)
        for arm in order:
            results[arm].append(measure(arm))
        log(f"round {index + 1}/{rounds} ({' '.join(order)}): "
            + ", ".join(f"{arm}={_short(results[arm][-1])}" for arm in arms)
            + f"; load average {load_average()}")
    return results


def ratios(num: Sequence[float], den: Sequence[float]) -> list[float]:
    """Per-round ratios num / den (the rounds must pair up)."""
    return [a / b for a, b in zip(num, den, strict=True)]


def median_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """The median of the per-round ratios num / den: the figure a comparison quotes."""
    return statistics.median(ratios(num, den))


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, to print next to every figure."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def spawn_json(cmd: Sequence[str]) -> dict:
    """Run `cmd` (one measurement, its own process); the last line of stdout that is a JSON
    object."""
    proc = subprocess.run(list(cmd), capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed no JSON result:\n{proc.stdout[-2000:]}")
    return json.loads(lines[-1])


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        nums = {k: v for k, v in value.items() if isinstance(v, float)}
        return "{" + ", ".join(f"{k}: {v:.4g}" for k, v in list(nums.items())[:2]) + "}"
    return str(value)
