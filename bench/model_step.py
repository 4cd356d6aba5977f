"""Forward+backward training-step throughput of lm-model against transformers' Llama.

Same shape (built from the same ModelConfig through lm_model.hf.to_hf_config), same
inputs, same loss (cross-entropy on the logits, outside both models). Four arms: `hf` and
`ours` eager, `hf+compile` and `ours+compile` with per-block torch.compile (each decoder
layer compiled on its own, as lm-dist compiles ours), so compiled is compared with compiled.
Each measurement runs in its own process, and the arms (with the matmul peak) alternate
round by round, forward then reversed, after a warm-up round (bench/_pairs.py), because a
shared machine drifts between runs; the reported ratio is the median of the per-round
ratios. On CPU, MFU is "vs measured matmul peak": against the median of square-matmul
FLOP/s measured in the same rounds. On CUDA it is against the datasheet's dense peak (bf16,
or half of it for fp32, which runs in TF32 as lm-dist runs it), as MFU is quoted elsewhere.

    uv run python bench/model_step.py                      # tiny and small, fp32 and bf16
    uv run python bench/model_step.py --presets tiny --dtypes fp32 --steps 2  # shorter
    uv run python bench/model_step.py --arms hf+compile ours+compile          # compiled pair only
    uv run python bench/model_step.py --presets 1b --dtypes bf16 --device cuda  # on a GPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pairs import load_average, median_ratio, run_rounds, spawn_json

ARMS = ("hf", "hf+compile", "ours", "ours+compile")
# (numerator, denominator) of the reported per-round ratios: eager vs eager, compiled vs compiled.
RATIOS = (("ours", "hf"), ("ours+compile", "hf+compile"))
SHAPES = {  # preset -> (batch, seq_len)
    "debug": (4, 128),
    "tiny": (4, 512),
    "small": (1, 1024),
    "1b": (4, 2048),
    "8b": (1, 4096),
}


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def matmul_peak(dtype_name: str, device: str, n: int = 2048, reps: int = 10) -> float:
    """Achieved FLOP/s of a square matmul: the ceiling MFU is measured against."""
    import torch

    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def datasheet_peak(dtype_name: str) -> float:
    """This GPU's dense peak from lm-dist's table (bf16; half of it for TF32)."""
    import torch

    from lm_dist.metrics import peak_flops

    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    return peak_flops(torch.device("cuda"), dtype)


def _build(arm: str, preset: str, device: str):
    import torch

    from lm_model import ModelConfig, Transformer
    from lm_model.hf import to_hf_config

    config = ModelConfig.from_preset(preset)
    torch.manual_seed(0)
    if arm.startswith("hf"):
        from transformers import LlamaConfig, LlamaForCausalLM

        hf_config = to_hf_config(config)
        hf_config.pop("lm_model")
        model = LlamaForCausalLM(LlamaConfig(**hf_config, attn_implementation="sdpa")).to(device)
        if arm == "hf+compile":
            # The same per-block compile as ours: each LlamaDecoderLayer, not the whole model.
            for layer in model.model.layers:
                layer.compile()
        return config, model, lambda x: model(x, use_cache=False).logits
    model = Transformer(config).to(device)
    if arm == "ours+compile":
        # Per block, as lm-dist compiles: identical blocks share one compiled graph.
        for block in model.layers.values():
            block.compile()
    return config, model, model


def measure(arm: str, preset: str, dtype_name: str, device: str, steps: int, warmup: int) -> dict:
    """Tokens/s of `steps` optimizer-free training steps after `warmup` ones."""
    import torch
    import torch.nn.functional as F

    config, model, forward = _build(arm, preset, device)
    batch, seq_len = SHAPES[preset]
    seq_len = min(seq_len, config.max_seq_len)
    x = torch.randint(0, config.vocab_size, (batch, seq_len), device=device,
                      generator=torch.Generator(device=device).manual_seed(0))
    from lm_dist.metrics import set_matmul_precision

    set_matmul_precision(torch.device(device), torch.float32)  # TF32 on CUDA, as lm-dist trains
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=dtype_name == "bf16")

    def step() -> None:
        with autocast:
            logits = forward(x)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), x.flatten())
        loss.backward()
        model.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = (time.perf_counter() - t0) / steps
    tokens_per_s = batch * seq_len / seconds
    return {"tokens_per_s": tokens_per_s,
            "flops_per_s": tokens_per_s * config.flops_per_token(seq_len),
            "batch": batch, "seq_len": seq_len}


def _run_worker(args: list[str]) -> dict:
    return spawn_json([sys.executable, __file__, "--worker", *args])


def compare(preset: str, dtype_name: str, device: str, rounds: int, steps: int,
            arms: tuple[str, ...] = ARMS) -> dict:
    common = [preset, dtype_name, device, str(steps)]

    def one(arm: str) -> float:
        if arm == "matmul":
            return _run_worker(["matmul", *common])["flops_per_s"]
        return _run_worker([arm, *common])["tokens_per_s"]

    # Warm-up round first (page cache, compile cache, CPU clocks), then alternating rounds.
    log = lambda line: print(f"  {preset} {dtype_name}: {line}", file=sys.stderr, flush=True)  # noqa: E731
    if device == "cuda":  # the datasheet's dense peak (TF32 for fp32): what MFU is quoted against
        results = run_rounds(list(arms), rounds, one, log=log)
        peak, peak_source = _run_worker(["peak", *common])["flops_per_s"], "datasheet"
    else:
        results = run_rounds(["matmul", *arms], rounds, one, log=log)
        peak, peak_source = statistics.median(results.pop("matmul")), "measured matmul"
    from lm_model import ModelConfig

    config = ModelConfig.from_preset(preset)
    seq_len = min(SHAPES[preset][1], config.max_seq_len)
    mfu = {arm: statistics.median(results[arm]) * config.flops_per_token(seq_len) / peak
           for arm in arms}
    pairs = [(n, d) for n, d in RATIOS if n in arms and d in arms]
    return {
        "preset": preset,
        "dtype": dtype_name,
        "peak_gflops": peak / 1e9,
        "peak_source": peak_source,
        "tokens_per_s": {a: statistics.median(v) for a, v in results.items()},
        "ratios": {f"{n}/{d}": median_ratio(results[n], results[d]) for n, d in pairs},
        "per_round": {
            f"{n}/{d}": [round(a / b, 3) for a, b in zip(results[n], results[d], strict=True)]
            for n, d in pairs
        },
        "mfu": mfu,
        "rounds": rounds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS,
                        help="a subset, e.g. the compiled pair alone: hf+compile ours+compile")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        arm, preset, dtype_name, device, steps, *warm = args.worker
        if arm == "matmul":
            print(json.dumps({"flops_per_s": matmul_peak(dtype_name, device)}))
        elif arm == "peak":
            print(json.dumps({"flops_per_s": datasheet_peak(dtype_name)}))
        else:
            warmup = int(warm[0]) if warm else 2
            print(json.dumps(measure(arm, preset, dtype_name, device, int(steps), warmup)))
        return
    print(f"load average at start {load_average()}")
    arms = tuple(a for a in ARMS if a in args.arms)
    pairs = [f"{n} / {d}" for n, d in RATIOS if n in arms and d in arms]
    print("| preset | dtype | " + " | ".join(f"{a} tok/s" for a in arms) + " | "
          + " | ".join(f"**{r}**" for r in pairs)
          + f" | MFU vs {'datasheet' if args.device == 'cuda' else 'measured matmul'} peak "
          + f"({' / '.join(arms)}) | peak GFLOP/s |")
    print("|---|---|" + "---:|" * (len(arms) + len(pairs)) + "---|---:|")
    for preset in args.presets:
        for dtype_name in args.dtypes:
            r = compare(preset, dtype_name, args.device, args.rounds, args.steps, arms)
            t, m = r["tokens_per_s"], r["mfu"]
            print(
                f"| {preset} | {dtype_name} | "
                + " | ".join(f"{t[a]:,.0f}" for a in arms)
                + " | "
                + " | ".join(f"{x:.2f}x" for x in r["ratios"].values())
                + " | "
                + " / ".join(f"{m[a]:.1%}" for a in arms)
                + f" | {r['peak_gflops']:,.0f} |",
                flush=True,
            )
            print(
                f"  per-round ratios: {json.dumps(r['per_round'])}; load average {load_average()}",
                flush=True,
            )

if __name__ == "__main__":
    main()
