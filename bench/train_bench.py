"""Training-step throughput of lm-dist against a plain PyTorch loop, and 2-way FSDP vs 1 process.

Arms, each measured in its own process(es); after a warm-up round the arms (and the matmul
peak) run in alternating order, forward then reversed (bench/_pairs.py), because a shared
machine drifts:

- `plain`: a hand-written loop (AdamW foreach, clipping, cross-entropy, the same lm-model
  Transformer and batch shape; no lm-dist code), one process.
- `lm-dist`: lm-dist's own step (`trainer._step`: data from token shards, clipping, guard,
  schedule), one process.
- `lm-dist+compile`: the same with per-block torch.compile.
- `fsdp2`: lm-dist with dp_shard=2 under torchrun (2 processes, gloo), the same global
  batch (half per rank) and the same total threads (half per rank).

Every arm runs on `--device` (CPU by default). Reported: tokens/s, MFU (on CPU vs a matmul
peak measured in the same rounds, fp32; on CUDA vs the datasheet's dense TF32 peak), the
load average, and the
median over pairs of the per-pair ratios lm-dist / plain, compile / plain and
fsdp2 / lm-dist, as Markdown tables.

    uv run python bench/train_bench.py                                 # tiny preset, 5 pairs
    uv run python bench/train_bench.py --pairs 2 --steps 3             # quick look
    uv run python bench/train_bench.py --arms plain,lm-dist --pairs 9  # just the ratio
    python bench/train_bench.py --device cuda --preset small --arms plain,lm-dist,lm-dist+compile
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pairs import load_average, run_rounds, spawn_json

ARMS = ("plain", "lm-dist", "lm-dist+compile", "fsdp2")
# (numerator, denominator) of the per-pair ratios that are reported.
RATIOS = (("lm-dist", "plain"), ("lm-dist+compile", "plain"), ("fsdp2", "lm-dist"))


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

    from lm_dist.metrics import set_matmul_precision
    from lm_model import ModelConfig, Transformer

    device = torch.device(args.device)
    set_matmul_precision(device, torch.float32)  # as lm-dist does: TF32 on CUDA
    torch.manual_seed(0)
    model = Transformer(ModelConfig.from_preset(args.preset)).to(device)
    # The implementation lm-dist's "auto" picks on this device: fused on CUDA, foreach on CPU.
    impl = {"fused": True} if device.type == "cuda" else {"foreach": True}
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1, **impl)
    gen = torch.Generator(device=device).manual_seed(0)
    vocab = model.config.vocab_size

    def step():
        batch = torch.randint(0, vocab, (args.batch, args.seq_len + 1), generator=gen,
                              device=device)
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return _time(step, args, args.batch)


def _lm_dist_config(args, tmp: Path, *, compile_blocks: bool, dp_shard: int = 1):
    """The lm-dist run of an arm: on the device every arm uses."""
    from lm_dist.config import (
        CheckpointConfig,
        DataConfig,
        MetricsConfig,
        ModelSection,
        ParallelConfig,
        ScheduleConfig,
        TrainConfig,
        TrainingConfig,
    )

    return TrainConfig(
        run_dir=str(tmp / "run"), model=ModelSection(preset=args.preset),
        parallel=ParallelConfig(dp_shard=dp_shard),
        data=DataConfig(path=str(tmp / "data"), seq_len=args.seq_len,
                        batch_size=args.batch // dp_shard),
        schedule=ScheduleConfig(warmup_steps=10),
        train=TrainingConfig(steps=1000, compile=compile_blocks, device=args.device),
        checkpoint=CheckpointConfig(enabled=False),
        metrics=MetricsConfig(wandb_mode="disabled", progress=False, peak_flops=1.0))


def _lm_dist(args, *, compile_blocks: bool, dp_shard: int = 1) -> float:
    from lm_dist import trainer
    from lm_model import PRESETS

    with tempfile.TemporaryDirectory() as tmp:
        # Every rank writes its own copy (same seed, same bytes): no shared-file race.
        _write_shards(Path(tmp) / "data", PRESETS[args.preset]["vocab_size"], 2_000_000)
        cfg = _lm_dist_config(args, Path(tmp), compile_blocks=compile_blocks, dp_shard=dp_shard)
        run = trainer._setup(cfg)
        try:
            return _time(lambda: trainer._step(run), args, args.batch)
        finally:
            run.loader.close()


def _barrier() -> None:
    """Wait for the device's queued work (CUDA runs asynchronously) and for the other ranks."""
    import torch
    import torch.distributed as dist

    if torch.cuda.is_initialized():
        torch.cuda.synchronize()
    if dist.is_initialized():
        dist.barrier()


def _time(step, args, global_batch: int) -> float:
    """Global tokens/s over `args.steps` steps after `args.warmup` untimed ones."""
    for _ in range(args.warmup):
        step()
    _barrier()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    _barrier()
    return global_batch * args.seq_len * args.steps / (time.perf_counter() - t0)


def _measure(arm: str, args) -> float | None:
    """Runs in a child process; the tokens/s of `arm` (None on ranks other than 0)."""
    import torch

    if arm == "peak":
        from lm_dist.metrics import measure_matmul_peak, peak_flops

        if args.device == "cuda":  # the datasheet's dense peak (TF32 for fp32), as lm-dist uses
            return peak_flops(torch.device("cuda"), torch.float32)
        torch.set_num_threads(args.threads)
        return max(measure_matmul_peak(torch.float32, n=1024, reps=10) for _ in range(3))
    if arm == "fsdp2":
        import torch.distributed as dist

        torch.set_num_threads(max(1, args.threads // 2))
        value = _lm_dist(args, compile_blocks=False, dp_shard=2)
        rank0 = dist.get_rank() == 0
        dist.destroy_process_group()
        return value if rank0 else None
    torch.set_num_threads(args.threads)
    if arm == "plain":
        return _plain(args)
    return _lm_dist(args, compile_blocks=arm == "lm-dist+compile")


def _child(arm: str, passthrough: list[str]) -> float:
    cmd = [sys.executable, __file__, *passthrough, "--child", arm]
    if arm == "fsdp2":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", "2", __file__, *passthrough, "--child", arm]
    return spawn_json(cmd)["value"]


def _report(args, arms: list[str], results: dict[str, list[float]], peaks: list[float],
            loads: tuple[str, str]) -> None:
    from lm_model import ModelConfig

    flops = ModelConfig.from_preset(args.preset).flops_per_token(args.seq_len)
    peak = statistics.median(peaks)
    peak_name = "measured matmul peak" if args.device == "cpu" else "datasheet peak"
    print(f"\npreset {args.preset}, global batch {args.batch} x {args.seq_len}, {args.threads} "
          f"threads in all per arm, {args.steps} timed steps after {args.warmup}, "
          f"{args.pairs} rounds on {args.device}; {peak_name} {peak / 1e9:.1f} GFLOP/s (fp32); "
          f"load average (1/5/15 min) {loads[0]} at start, {loads[1]} at end\n")
    print(f"| round | {peak_name} GFLOP/s | " + " | ".join(f"{a} tok/s" for a in arms) + " |")
    print("|---" * (len(arms) + 2) + "|")
    for i in range(args.pairs):
        print(f"| {i + 1} | {peaks[i] / 1e9:.1f} | "
              + " | ".join(f"{results[a][i]:.0f}" for a in arms) + " |")
    print(
        f"\n| arm | tok/s (median) | MFU vs {peak_name} ({peak / 1e9:.0f} GFLOP/s) |\n|---|---|---|"
    )
    for arm in arms:
        tps = statistics.median(results[arm])
        print(f"| {arm} | {tps:.0f} | {tps * flops / peak:.1%} |")
    print("\n| ratio | median of per-round ratios | per round |\n|---|---|---|")
    for num, den in RATIOS:
        if num in results and den in results:
            r = [a / b for a, b in zip(results[num], results[den], strict=True)]
            print(f"| {num} / {den} | {statistics.median(r):.3f} | "
                  + ", ".join(f"{x:.3f}" for x in r) + " |")


def main(args: argparse.Namespace) -> None:
    arms = args.arms.split(",")
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        raise SystemExit(f"--arms: unknown arm(s) {unknown}; choose from {list(ARMS)}")
    if "fsdp2" in arms and args.batch % 2:
        raise SystemExit(f"--batch: {args.batch} must be even to split over 2 FSDP ranks")
    if "fsdp2" in arms and args.device == "cuda":
        import torch

        if torch.cuda.device_count() < 2:
            raise SystemExit("--arms: fsdp2 on CUDA needs 2 GPUs (two ranks cannot share one)")
    passthrough = [
        "--device",
        args.device,
        "--preset",
        args.preset,
        "--batch",
        str(args.batch),
        "--seq-len",
        str(args.seq_len),
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        "--threads",
        str(args.threads),
    ]
    load_start = load_average()
    results = run_rounds(["peak", *arms], args.pairs, lambda arm: _child(arm, passthrough))
    peaks = results.pop("peak")
    _report(args, arms, results, peaks, (load_start, load_average()))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="every arm runs here (MFU: measured matmul peak on CPU, datasheet on CUDA)")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch", type=int, default=4, help="global batch (sequences per step)")
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--steps", type=int, default=5, help="timed steps per arm and pair")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps before them")
    p.add_argument("--pairs", "--rounds", type=int, default=5, dest="pairs",
                   help="measured rounds of every arm, alternating order, after one warm-up round")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads per arm, in all")
    p.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, from {ARMS}")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


if __name__ == "__main__":
    cli = parse()
    if cli.child:
        value = _measure(cli.child, cli)
        if value is not None:
            print(json.dumps({"value": value}), flush=True)
    else:
        main(cli)
