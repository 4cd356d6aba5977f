"""Forward+backward training-step throughput of lm-model against transformers' Llama.

Same shape (built from the same ModelConfig through lm_model.hf.to_hf_config), same
inputs, same loss (cross-entropy on the logits, outside both models). Each measurement runs
in its own process, and the arms alternate (hf, ours, ours+compile, then the next round)
after a warm-up round, because a shared machine drifts between runs; the reported ratio is
the median of the per-round ratios. MFU is against a matmul peak measured in the same run.

    uv run python bench/model_step.py                      # tiny and small, fp32 and bf16
    uv run python bench/model_step.py --presets tiny --rounds 3 --steps 2   # quick look
    uv run python bench/model_step.py --presets 1b --dtypes bf16 --device cuda  # on a GPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

ARMS = ("hf", "ours", "ours+compile")
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


def _build(arm: str, preset: str, device: str):
    import torch

    from lm_model import ModelConfig, Transformer
    from lm_model.hf import to_hf_config

    config = ModelConfig.from_preset(preset)
    torch.manual_seed(0)
    if arm == "hf":
        from transformers import LlamaConfig, LlamaForCausalLM

        hf_config = to_hf_config(config)
        hf_config.pop("lm_model")
        model = LlamaForCausalLM(LlamaConfig(**hf_config, attn_implementation="sdpa")).to(device)
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
    cmd = [sys.executable, __file__, "--worker", *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(preset: str, dtype_name: str, device: str, rounds: int, steps: int) -> dict:
    common = [preset, dtype_name, device, str(steps)]
    peak = _run_worker(["matmul", *common])["flops_per_s"]
    for arm in ARMS:  # warm-up round: page cache, compile cache, CPU clocks
        _run_worker([arm, *common, "1"])
    results: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for r in range(rounds):
        order = ARMS if r % 2 == 0 else ARMS[::-1]  # A B C, C B A, ...
        for arm in order:
            results[arm].append(_run_worker([arm, *common])["tokens_per_s"])
    ratios = {arm: statistics.median(o / h for o, h in zip(results[arm], results["hf"], strict=True))
              for arm in ARMS[1:]}
    from lm_model import ModelConfig

    config = ModelConfig.from_preset(preset)
    seq_len = min(SHAPES[preset][1], config.max_seq_len)
    mfu = {arm: statistics.median(results[arm]) * config.flops_per_token(seq_len) / peak
           for arm in ARMS}
    return {"preset": preset, "dtype": dtype_name, "peak_gflops": peak / 1e9,
            "tokens_per_s": {a: statistics.median(v) for a, v in results.items()},
            "ratio_vs_hf": ratios, "mfu": mfu, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tiny", "small"])
    parser.add_argument("--dtypes", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        arm, preset, dtype_name, device, steps, *warm = args.worker
        if arm == "matmul":
            print(json.dumps({"flops_per_s": matmul_peak(dtype_name, device)}))
        else:
            warmup = int(warm[0]) if warm else 2
            print(json.dumps(measure(arm, preset, dtype_name, device, int(steps), warmup)))
        return
    print("| preset | dtype | hf tok/s | ours tok/s | ours+compile tok/s | ours/hf | "
          "ours+compile/hf | MFU hf / ours / ours+compile | matmul peak GFLOP/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        for dtype_name in args.dtypes:
            r = compare(preset, dtype_name, args.device, args.rounds, args.steps)
            t, m = r["tokens_per_s"], r["mfu"]
            print(f"| {preset} | {dtype_name} | {t['hf']:,.0f} | {t['ours']:,.0f} | "
                  f"{t['ours+compile']:,.0f} | {r['ratio_vs_hf']['ours']:.2f}x | "
                  f"{r['ratio_vs_hf']['ours+compile']:.2f}x | {m['hf']:.1%} / {m['ours']:.1%} / "
                  f"{m['ours+compile']:.1%} | {r['peak_gflops']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
