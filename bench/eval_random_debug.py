"""Sanity baseline of `lm-evaluate`: an untrained `debug` lm-model on every task.

An untrained model must score chance: MMLU ~25%, PIQA ~50%, LAMBADA ~0%, GSM8K 0%, and
bits-per-byte near log2(vocab) / (bytes per token). Anything far from that is a scoring bug.

    uv run python bench/eval_random_debug.py [--data-dir ../shared/data] [--gsm8k-limit 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from lm_evaluate import EvalConfig, evaluate, markdown_table
from lm_model import ModelConfig, Transformer
from lm_model.hf import save_hf
from lm_tok import TokenizerConfig, save_tokenizer, train_tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--gsm8k-limit", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        text = (args.data_dir / "pretrain" / "tinyshakespeare.txt").read_text()
        cfg = TokenizerConfig(vocab_size=2048)
        tok_dir = save_tokenizer(train_tokenizer([text], cfg), Path(tmp) / "tok", cfg)
        torch.manual_seed(0)
        model = Transformer(ModelConfig.from_preset("debug", vocab_size=2048, max_seq_len=1024))
        model_dir = save_hf(model, Path(tmp) / "model", tokenizer_dir=tok_dir)
        base = EvalConfig(
            model=model_dir, data_dir=args.data_dir, tasks=("wikitext", "lambada", "piqa", "mmlu")
        )
        start = time.perf_counter()
        report = evaluate(base, progress=True)
        gsm8k = evaluate(
            replace(base, tasks=("gsm8k",), limit=args.gsm8k_limit, gsm8k_max_new_tokens=128)
        )
        report["results"] += gsm8k["results"]
        print(markdown_table(report), end="")
        print(
            f"\n{model.num_params():,} parameters; {time.perf_counter() - start:.0f} s in all; "
            f"per task: "
            + ", ".join(f"{r['task']} {r['seconds']:.0f} s" for r in report["results"])
        )


if __name__ == "__main__":
    main()
