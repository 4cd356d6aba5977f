"""The first-run check on a GPU: what the CPU test suite cannot show.

One entry point, run once on a lent device, prints a Markdown table and writes
`check.json`. Each check is independent; a failing one is reported and the others still run.

- attention: lm-model's bf16 forward with the flash-attention SDPA kernel forced (GQA through
  `enable_gqa`), against transformers' LlamaForCausalLM with the same weights.
- generation: greedy KV-cache generation against recomputing the whole sequence, in bf16.
- train_resume: `lm_dist.train` end to end on the device (bf16, per-block compile, activation
  checkpointing), interrupted after a checkpoint and resumed, against an uninterrupted run;
  Dynamo recompiles counted (what `TORCH_LOGS=recompiles` prints).
- eval_memory: lm-evaluate's scorer on a batch of full windows: peak memory and the largest
  logits tensor against what all-position logits would take.

    python bench/gpu/check.py --out $OUT                  # on the GPU (presets 1b and small)
    python bench/gpu/check.py --device cpu --preset debug --train-preset debug   # rehearsal

It runs from the source folders (`bench/gpu/run.sh` sets PYTHONPATH), with only what the
device image has: torch, transformers, numpy, tqdm.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parents[2]
# The lm-dist test suite's shard writer: synthetic token shards in lm-tok's format.
sys.path.insert(0, str(ROOT / "packages" / "lm-dist" / "tests"))


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _model(preset: str, device: str, dtype: torch.dtype, seed: int = 0):
    from lm_model import ModelConfig, Transformer

    torch.manual_seed(seed)
    with torch.device(device):
        model = Transformer(ModelConfig.from_preset(preset))
    return model.to(dtype).eval()


def _hf_twin(model, device: str, dtype: torch.dtype):
    """transformers' Llama of the same shape holding the same weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from lm_model.hf import to_hf_config, to_hf_name

    hf_config = to_hf_config(model.config)
    hf_config.pop("lm_model", None)
    with torch.device(device):
        hf = LlamaForCausalLM(LlamaConfig(**hf_config, attn_implementation="sdpa"))
    state = {to_hf_name(k): v for k, v in model.state_dict().items()
             if not (k == "output.weight" and model.config.tie_embeddings)}
    missing, unexpected = hf.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    return hf.to(dtype).eval()


@torch.inference_mode()
def check_attention(device: str, preset: str, batch: int = 2, seq_len: int = 1024) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    dtype = torch.bfloat16
    model = _model(preset, device, dtype)
    seq_len = min(seq_len, model.config.max_seq_len)
    x = torch.randint(0, model.config.vocab_size, (batch, seq_len), device=device)
    ours = model(x).float()
    flash = "n/a on cpu"
    if device == "cuda":
        with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):  # raises if flash cannot run GQA here
            forced = model(x).float()
        flash = f"ran; max |Δ| vs default kernel {(forced - ours).abs().max().item():.3g}"
    hf = _hf_twin(model, device, dtype)
    theirs = hf(x, use_cache=False).logits.float()
    diff = (ours - theirs).abs().max().item()
    agree = (ours.argmax(-1) == theirs.argmax(-1)).float().mean().item()
    # bf16 rounding differs between two correct implementations; a bug is far larger.
    ok = agree > 0.98
    return {"ok": ok, "flash_attention": flash, "max_abs_logit_diff": diff,
            "top1_agreement": agree, "shape": [batch, seq_len]}


@torch.inference_mode()
def check_generation(device: str, preset: str, new_tokens: int = 64) -> dict:
    from lm_model import generate

    model = _model(preset, device, torch.bfloat16)
    prompt = torch.randint(3, model.config.vocab_size, (32,)).tolist()
    runs = {}
    for use_cache in (True, False):  # warm-up: kernels, allocator, cuBLAS handles
        list(generate(model, prompt, 4, temperature=0.0, use_cache=use_cache))
    for use_cache in (True, False):
        _sync(device)
        t0 = time.perf_counter()
        runs[use_cache] = list(generate(model, prompt, new_tokens, temperature=0.0,
                                        use_cache=use_cache))
        _sync(device)
        runs[f"s{use_cache}"] = time.perf_counter() - t0
    cached, full = runs[True], runs[False]
    same = next((i for i, (a, b) in enumerate(zip(cached, full, strict=True)) if a != b),
                len(cached))
    # Random weights give near-ties that bf16 may break differently; most tokens must agree.
    return {"ok": same >= new_tokens // 2, "identical_prefix": f"{same}/{new_tokens}",
            "cached_tokens_per_s": new_tokens / runs["sTrue"],
            "uncached_tokens_per_s": new_tokens / runs["sFalse"]}


class _RecompileCounter(logging.Handler):
    """Counts Dynamo's recompile messages (the `recompiles` logging artifact)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "Recompiling" in record.getMessage():
            self.messages.append(record.getMessage().splitlines()[0])


def _train_cfg(run_dir: Path, shards: Path, preset: str, device: str, steps: int,
               seq_len: int, batch: int):
    from lm_dist.config import TrainConfig

    return TrainConfig.from_dict({
        "run_dir": str(run_dir),
        "model": {"preset": preset},
        "data": {"path": str(shards), "seq_len": seq_len, "batch_size": batch},
        "schedule": {"warmup_steps": 2},
        "train": {"steps": steps, "dtype": "bfloat16", "device": device, "compile": True,
                  "activation_checkpoint": "full"},
        "checkpoint": {"interval": steps // 2},
        "metrics": {"wandb_mode": "disabled", "progress": False, "log_interval": 1},
    })


def check_train_resume(device: str, preset: str, work: Path, steps: int = 8,
                       seq_len: int = 1024, batch: int = 4) -> dict:
    from lm_dist_testdata import write_shards

    from lm_dist.trainer import train
    from lm_model import ModelConfig

    config = ModelConfig.from_preset(preset)
    seq_len = min(seq_len, config.max_seq_len)
    shards = write_shards(work / "shards", num_tokens=(steps + 2) * batch * (seq_len + 1),
                          vocab_size=config.vocab_size,
                          dtype="uint32" if config.vocab_size > 65535 else "uint16")
    counter = _RecompileCounter()
    torch._logging.set_logs(recompiles=True)
    logging.getLogger("torch._dynamo").addHandler(counter)
    try:
        straight = train(_train_cfg(work / "straight", shards, preset, device, steps, seq_len,
                                    batch))

        def stop_half_way(step: int) -> None:
            if step == steps // 2:
                raise KeyboardInterrupt  # as a preempted job would stop
        with contextlib.suppress(KeyboardInterrupt):
            train(_train_cfg(work / "resumed", shards, preset, device, steps, seq_len, batch),
                  on_step=stop_half_way)
        resumed = train(_train_cfg(work / "resumed", shards, preset, device, steps, seq_len,
                                   batch))
    finally:
        logging.getLogger("torch._dynamo").removeHandler(counter)
        torch._logging.set_logs()
    diff = max(abs(resumed.losses[s] - straight.losses[s]) for s in resumed.losses)
    metrics = [json.loads(line) for line in
               (work / "straight" / "metrics.jsonl").read_text().splitlines()]
    last = [m for m in metrics if "tokens_per_s" in m][-1]
    return {"ok": resumed.start_step == steps // 2 and diff < 1e-2,
            "resumed_from": resumed.start_step, "max_loss_diff_after_resume": diff,
            "loss_first_last": [straight.losses[1], straight.losses[steps]],
            "recompiles": len(counter.messages), "recompile_reasons": counter.messages[:5],
            "tokens_per_s": last["tokens_per_s"], "mfu": last["mfu"],
            "peak_memory_gib": last["peak_memory_gib"]}


@torch.inference_mode()
def check_eval_memory(device: str, preset: str, batch: int = 16,
                      window: int = 8192) -> dict:
    from lm_evaluate import Scorer

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = _model(preset, device, dtype)
    window = min(window, model.config.max_seq_len)
    ids = torch.randint(3, model.config.vocab_size, (batch * window,)).tolist()
    tokenizer = SimpleNamespace(bos_token_id=0, eos_token_id=1, pad_token_id=1)
    scorer = Scorer(model, tokenizer, batch_size=batch)
    largest: list[int] = []
    hook = model.output.register_forward_hook(lambda m, i, out: largest.append(out.numel()))
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    weights = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30
    nll = scorer.rolling_nll(ids)
    hook.remove()
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    unbounded = batch * window * model.config.vocab_size * 4 / 2**30
    biggest = max(largest) * 4 / 2**30
    return {"ok": max(largest) <= scorer.max_logit_rows * model.config.vocab_size,
            "windows": f"{batch} x {window}", "weights_gib": weights, "peak_gib": peak,
            "largest_logits_gib_fp32": biggest, "all_position_logits_gib_fp32": unbounded,
            "nll_per_token": nll / len(ids)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--preset", default="1b", help="model for attention, generation, eval")
    parser.add_argument("--train-preset", default="small", help="model for train_resume")
    parser.add_argument("--train-seq-len", type=int, default=1024)
    parser.add_argument("--eval-batch", type=int, default=16)
    parser.add_argument("--only", nargs="*", help="run only these checks")
    parser.add_argument("--out", type=Path, default=None, help="folder for check.json")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch sees no GPU")
    work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    checks: dict[str, Callable[[], dict]] = {
        "attention": lambda: check_attention(args.device, args.preset),
        "generation": lambda: check_generation(args.device, args.preset),
        "train_resume": lambda: check_train_resume(args.device, args.train_preset, work,
                                                   seq_len=args.train_seq_len),
        "eval_memory": lambda: check_eval_memory(args.device, args.preset,
                                                 batch=args.eval_batch),
    }
    results = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
               "torch": torch.__version__}
    for name, run in checks.items():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        try:
            results[name] = run()
        except Exception:  # one broken check must not hide the others' answers
            results[name] = {"ok": False, "error": traceback.format_exc(limit=4)}
        results[name]["seconds"] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {json.dumps(results[name], default=str)}", flush=True)
    print("\n| check | ok | seconds |\n|---|---|---|")
    for name in checks:
        if name in results:
            print(f"| {name} | {results[name]['ok']} | {results[name]['seconds']} |")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "check.json").write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(results[n]["ok"] for n in checks if n in results) else 1


if __name__ == "__main__":
    sys.exit(main())
