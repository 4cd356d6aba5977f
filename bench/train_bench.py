"""Single-process training-step throughput of lm-dist against a plain PyTorch loop.

Arms, each measured in its own process and alternated round by round after a warm-up
round (a shared machine drifts): `plain` is a hand-written loop (AdamW foreach, clipping,
cross-entropy, the same lm-model Transformer and batch shape, no lm-dist code); `lm-dist`
is lm-dist's own step (`trainer._step`: data from token shards, clipping, guard, schedule);
`lm-dist+compile` adds per-block torch.compile. Reported: tokens/s, MFU against a matmul
peak measured in the same run, and the median over rounds of the per-round ratio to `plain`.

    uv run python bench/dist_step.py                          # tiny preset, 5 rounds
    uv run python bench/dist_step.py --rounds 2 --steps 3     # quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARMS = ("plain", "lm-dist", "lm-dist+compile")


def _write_shards(directory: Path, vocab_size: int, num_tokens: int) -> None:
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    tokens = np.random.default_rng(0).integers(0, vocab_size, num_tokens, dtype=np.uint16)
    tokens.tofile(directory / "shard-00000.bin")
    (directory / "manifest.json").write_text(json.dumps({
        "format": "bench", "dtype": "uint16", "vocab_size": vocab_size, "bos_id": 0,
        "eos_id": 1, "pad_id": 2, "num_tokens": num_tokens, "num_documents": 1,
        "shards": [{"path": "shard-00000.bin", "num_tokens": num_tokens, "num_documents": 1}],
        "tokenizer_sha256": "", "sources": ["random"]}))


def _plain(args) -> float:
    import torch
    import torch.nn.functional as F
    from lm_model import ModelConfig, Transformer

    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_preset(args.preset))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, foreach=True)
    gen = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size

    def step():
        batch = torch.randint(0, vocab, (args.batch, args.seq_len + 1), generator=gen)
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return _time(step, args)


def _lm_dist(args, compile_blocks: bool) -> float:
    from lm_dist import trainer
    from lm_dist.config import (
        CheckpointConfig,
        DataConfig,
        MetricsConfig,
        ModelSection,
        ScheduleConfig,
        TrainConfig,
        TrainingConfig,
    )

    with tempfile.TemporaryDirectory() as tmp:
        from lm_model import PRESETS

        _write_shards(Path(tmp) / "data", PRESETS[args.preset]["vocab_size"], 2_000_000)
        cfg = TrainConfig(
            run_dir=str(Path(tmp) / "run"), model=ModelSection(preset=args.preset),
            data=DataConfig(path=str(Path(tmp) / "data"), seq_len=args.seq_len,
                            batch_size=args.batch),
            schedule=ScheduleConfig(warmup_steps=10),
            train=TrainingConfig(steps=1000, compile=compile_blocks),
            checkpoint=CheckpointConfig(enabled=False),
            metrics=MetricsConfig(wandb_mode="disabled", progress=False, peak_flops=1.0))
        run = trainer._setup(cfg)
        return _time(lambda: trainer._step(run), args)


def _time(step, args) -> float:
    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    return args.batch * args.seq_len * args.steps / (time.perf_counter() - t0)


def _measure(arm: str, args) -> float:
    import torch

    torch.set_num_threads(args.threads)
    if arm == "plain":
        return _plain(args)
    return _lm_dist(args, compile_blocks=arm == "lm-dist+compile")


def _peak(threads: int) -> float:
    import torch
    from lm_dist.metrics import measure_matmul_peak

    torch.set_num_threads(threads)
    return max(measure_matmul_peak(torch.float32, n=1024, reps=10) for _ in range(3))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        value = _peak(args.threads) if args.child == "peak" else _measure(args.child, args)
        print(json.dumps({"value": value}))
        return
    arms = args.arms.split(",")
    passthrough = ["--preset", args.preset, "--batch", str(args.batch), "--seq-len",
                   str(args.seq_len), "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--threads", str(args.threads)]

    def child(arm: str) -> float:
        out = subprocess.run([sys.executable, __file__, *passthrough, "--child", arm],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])["value"]

    from lm_model import ModelConfig

    flops = ModelConfig.from_preset(args.preset).flops_per_token(args.seq_len)
    results: dict[str, list[float]] = {arm: [] for arm in arms}
    peaks = []
    for rnd in range(args.rounds + 1):  # round 0 warms caches (and the compile cache) up
        peak = child("peak")
        this_round = {arm: child(arm) for arm in arms}
        if rnd:
            peaks.append(peak)
            for arm, tps in this_round.items():
                results[arm].append(tps)
        print(f"round {rnd}: peak {peak / 1e9:.1f} GFLOP/s " +
              " ".join(f"{a}={v:.0f}" for a, v in this_round.items()), flush=True)
    peak = statistics.median(peaks)
    print(f"\npreset {args.preset}, batch {args.batch}x{args.seq_len}, {args.threads} threads, "
          f"{args.rounds} rounds; matmul peak {peak / 1e9:.1f} GFLOP/s (fp32)")
    for arm in arms:
        tps = statistics.median(results[arm])
        line = f"{arm:16s} {tps:8.0f} tok/s  MFU {tps * flops / peak:6.1%}"
        if "plain" in results and arm != "plain":
            ratios = [a / b for a, b in zip(results[arm], results["plain"], strict=True)]
            line += f"  ratio vs plain (median of rounds) {statistics.median(ratios):.3f}"
        print(line)


if __name__ == "__main__":
    main()
