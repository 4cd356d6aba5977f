"""Train the `tiny` lm-model preset on Tiny Shakespeare end to end: lm-tok, then lm-dist.

The first 90% of the text (cut at a line break) trains a byte-level BPE tokenizer and is
encoded into train shards; the last 10% is encoded into validation shards with the same
tokenizer. `lm_dist.train` then trains for `--steps` steps with validation on the whole
held-out split every `--val-interval` steps. Written under OUT:

    data/     the two text splits, the tokenizer directory, train/ and val/ token shards
    run/      lm-dist's run directory (config.toml, metrics.jsonl, the final checkpoint)
    shakespeare-loss.png   train and validation loss curves
    metrics.json           final validation loss, bits per byte, steps, tokens, wall time

Bits per byte = val loss (nats/token) x val tokens / (val UTF-8 bytes x ln 2), the counts
from the validation shards' manifest, so it compares across tokenizers.

    uv run python bench/shakespeare.py OUT                 # 300 steps, batch 16 x 128
    uv run python bench/shakespeare.py OUT --steps 50      # quick look
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from lm_dist import train
from lm_dist.config import (
    CheckpointConfig,
    DataConfig,
    MetricsConfig,
    ModelSection,
    OptimizerConfig,
    ScheduleConfig,
    TrainConfig,
    TrainingConfig,
)
from lm_model import ModelConfig
from lm_tok import EncodeConfig, TokenizerConfig, encode_corpus, save_tokenizer, train_tokenizer

TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "pretrain" / "tinyshakespeare.txt"


def split_text(source: Path, out: Path, train_fraction: float) -> tuple[Path, Path]:
    """Write the first `train_fraction` of the text (to a line break) and the rest."""
    text = source.read_text(encoding="utf-8")
    cut = text.index("\n", int(len(text) * train_fraction)) + 1
    out.mkdir(parents=True, exist_ok=True)
    train_txt, val_txt = out / "train.txt", out / "val.txt"
    train_txt.write_text(text[:cut], encoding="utf-8")
    val_txt.write_text(text[cut:], encoding="utf-8")
    return train_txt, val_txt


def tokenize(train_txt: Path, val_txt: Path, out: Path, vocab_size: int) -> tuple[dict, dict]:
    """Tokenizer from the train split; train and validation shard manifests."""
    tok_cfg = TokenizerConfig(vocab_size=vocab_size)
    tok_dir = save_tokenizer(train_tokenizer([train_txt], tok_cfg), out / "tokenizer", tok_cfg)
    manifests = []
    for name, path in (("train", train_txt), ("val", val_txt)):
        manifests.append(encode_corpus(EncodeConfig(
            tokenizer=tok_dir, inputs=(path,), output=out / name, workers=1, progress=False)))
    return manifests[0], manifests[1]


def run_config(
    args: argparse.Namespace, data: Path, vocab_size: int, val_tokens: int
) -> TrainConfig:
    # Every validation covers the whole held-out split (windows of seq_len + 1, overlap 1).
    val_batches = max(1, (val_tokens - 1) // args.seq_len // args.batch)
    return TrainConfig(
        run_dir=str(args.out / "run"),
        model=ModelSection(preset="tiny", overrides={"vocab_size": vocab_size}),
        optim=OptimizerConfig(lr=args.lr),
        schedule=ScheduleConfig(warmup_steps=args.warmup),
        data=DataConfig(path=str(data / "train"), val_path=str(data / "val"),
                        seq_len=args.seq_len, batch_size=args.batch, seed=args.seed),
        train=TrainingConfig(steps=args.steps, dtype="float32", seed=args.seed),
        checkpoint=CheckpointConfig(interval=args.steps, keep_last=1, resume=False),
        metrics=MetricsConfig(log_interval=10, val_interval=args.val_interval,
                              val_batches=val_batches, wandb_mode="disabled"))


def plot(losses: dict[int, float], val_losses: dict[int, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(list(losses), list(losses.values()), lw=0.8, alpha=0.6, label="train (per step)")
    ax.plot(list(val_losses), list(val_losses.values()), "o-", label="validation (held-out 10%)")
    ax.set(xlabel="step", ylabel="cross-entropy (nats/token)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    data = args.out / "data"
    train_txt, val_txt = split_text(args.text, data, 0.9)
    train_m, val_m = tokenize(train_txt, val_txt, data, args.vocab_size)
    t_tok = time.perf_counter() - t0
    cfg = run_config(args, data, train_m["vocab_size"], val_m["num_tokens"])
    result = train(cfg)
    t_train = time.perf_counter() - t0 - t_tok
    final_step = max(result.val_losses)
    val_loss = result.val_losses[final_step]
    val_bytes = sum(s["num_bytes"] for s in val_m["sources"])
    metrics = {
        "final_step": final_step,
        "final_val_loss": val_loss,
        "final_train_loss": result.losses[final_step],
        "val_bits_per_byte": val_loss * val_m["num_tokens"] / (val_bytes * math.log(2)),
        "val_losses": result.val_losses,
        "train_losses": result.losses,
        "parameters": ModelConfig.from_preset(
            "tiny", vocab_size=train_m["vocab_size"]
        ).num_params(),
        "vocab_size": train_m["vocab_size"],
        "train_tokens_in_corpus": train_m["num_tokens"],
        "val_tokens": val_m["num_tokens"],
        "val_bytes": val_bytes,
        "tokens_trained": args.steps * args.batch * args.seq_len,
        "tokenize_s": round(t_tok, 1),
        "train_s": round(t_train, 1),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    title = (f"lm-dist tiny ({metrics['parameters'] / 1e6:.1f}M params) on Tiny Shakespeare: "
             f"val {val_loss:.3f} nats, {metrics['val_bits_per_byte']:.3f} bits/byte")
    plot(result.losses, result.val_losses, args.out / "shakespeare-loss.png", title)
    return metrics


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path, help="output folder (data, run dir, PNG, metrics.json)")
    p.add_argument("--text", type=Path, default=TEXT)
    p.add_argument("--vocab-size", type=int, default=4096)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--val-interval", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


if __name__ == "__main__":
    m = main(parse())
    print(
        json.dumps(
            {k: v for k, v in m.items() if k not in ("val_losses", "train_losses", "config")},
            indent=2,
        )
    )
