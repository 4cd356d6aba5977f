"""Grouped-query attention inside SDPA (`enable_gqa=True`) against expanding k/v first.

lm-model's attention calls `F.scaled_dot_product_attention(q, k, v, is_causal=True,
enable_gqa=True)` with fewer k/v heads than query heads; the usual alternative (and what
older code does) repeats each k/v head `n_heads // n_kv_heads` times before a plain SDPA call.
One timed measurement is `--iters` causal forward+backward passes of the attention op alone
(q, k, v leaf tensors with gradients), after 3 untimed ones. Each measurement runs in its own
process; after a warm-up pair the arms alternate A B, B A, ... (bench/_pairs.py); the ratio is
the median of the per-pair ratios (expand time / gqa time: > 1 means enable_gqa is faster).

    uv run python bench/gqa_sdpa.py                       # 4 x 8 heads / 2 kv heads x 512 x 64
    uv run python bench/gqa_sdpa.py --dtypes fp32 --pairs 5 --iters 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pairs import load_average, median_ratio, ratios, run_rounds, spawn_json

ARMS = ("enable_gqa", "expand")


def measure(arm: str, dtype_name: str, shape: tuple[int, int, int, int, int], iters: int) -> float:
    """Seconds per causal forward+backward of the attention op (runs in the child process)."""
    import torch
    import torch.nn.functional as F

    batch, heads, kv_heads, seq, head_dim = shape
    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(batch, heads, seq, head_dim, generator=gen, dtype=dtype, requires_grad=True)
    k = torch.randn(batch, kv_heads, seq, head_dim, generator=gen, dtype=dtype, requires_grad=True)
    v = torch.randn(batch, kv_heads, seq, head_dim, generator=gen, dtype=dtype, requires_grad=True)
    groups = heads // kv_heads

    def step() -> None:
        if arm == "enable_gqa":
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        else:
            out = F.scaled_dot_product_attention(
                q,
                k.repeat_interleave(groups, dim=1),
                v.repeat_interleave(groups, dim=1),
                is_causal=True,
            )
        out.sum().backward()
        q.grad = k.grad = v.grad = None

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - t0) / iters


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    p.add_argument("--shape", type=int, nargs=5, default=[4, 8, 2, 512, 64],
                   metavar=("BATCH", "HEADS", "KV_HEADS", "SEQ", "HEAD_DIM"))
    p.add_argument(
        "--iters", type=int, default=20, help="timed forward+backward passes per measurement"
    )
    p.add_argument("--pairs", type=int, default=5)
    p.add_argument("--child", nargs=2, metavar=("ARM", "DTYPE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    shape = tuple(args.shape)
    if shape[1] % shape[2]:
        raise SystemExit(f"--shape: HEADS {shape[1]} must be a multiple of KV_HEADS {shape[2]}")
    if args.child:
        print(json.dumps({"seconds": measure(args.child[0], args.child[1], shape, args.iters)}))
        return
    passthrough = ["--shape", *map(str, shape), "--iters", str(args.iters)]
    print(f"shape (batch, heads, kv heads, seq, head dim) {shape}, causal forward+backward, "
          f"{args.iters} timed passes per measurement; load average before {load_average()}")
    for dtype_name in args.dtypes:
        res = run_rounds(list(ARMS), args.pairs, lambda arm, d=dtype_name: spawn_json(
            [sys.executable, __file__, *passthrough, "--child", arm, d])["seconds"],
            log=lambda line, d=dtype_name: print(f"  {d}: {line}", flush=True))
        speedup = median_ratio(res["expand"], res["enable_gqa"])
        print(
            f"{dtype_name}: enable_gqa {statistics.median(res['enable_gqa']) * 1e3:.2f} ms, expand "
            f"{statistics.median(res['expand']) * 1e3:.2f} ms per pass (medians); "
            f"expand / enable_gqa time: median {speedup:.3f} (pairs: "
            + ", ".join(f"{r:.3f}" for r in ratios(res["expand"], res["enable_gqa"]))
            + f"); load average {load_average()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
