import json

import pytest
import torch
from lm_dist_ranks import run_on_ranks
from lm_dist_testdata import make_cfg

from lm_dist.checkpoint import export, load_model
from lm_dist.cli import main
from lm_dist.trainer import train
from lm_model.hf import load_hf, verify_hf


def _train(cfg):
    return train(cfg).losses


@pytest.fixture(scope="module")
def fsdp_run(shard_dir, tmp_path_factory):
    """A run saved by 2 FSDP ranks: export must gather the shards."""
    run_dir = tmp_path_factory.mktemp("fsdp-run")
    cfg = make_cfg(run_dir, shard_dir, steps=2, batch_size=4, parallel={"dp_shard": 2},
                   train={"dtype": "float32"})
    run_on_ranks(2, _train, cfg)
    return run_dir


def test_export_round_trips_through_lm_model_hf(fsdp_run, tmp_path):
    out = export(fsdp_run, tmp_path / "hf")
    ours = load_model(fsdp_run)
    loaded = load_hf(out)
    assert loaded.config == ours.config
    for key, value in ours.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    tokens = torch.randint(0, 512, (2, 16))
    assert torch.equal(loaded(tokens), ours(tokens))
    assert verify_hf(ours, out, atol=1e-5) < 1e-5


def test_cli_export_with_tokenizer_files_and_bf16(fsdp_run, tmp_path):
    tok = tmp_path / "tok"
    tok.mkdir()
    (tok / "tokenizer.json").write_text(
        json.dumps({"added_tokens": [{"id": 1, "content": "<eos>"}]})
    )
    (tok / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<eos>"}))
    assert main(["export", "--checkpoint", str(fsdp_run / "checkpoints"), "--output",
                 str(tmp_path / "hf"), "--tokenizer_dir", str(tok), "--dtype", "bfloat16"]) == 0
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["eos_token_id"] == 1 and config["torch_dtype"] == "bfloat16"
    assert (tmp_path / "hf" / "tokenizer.json").is_file()
    assert load_hf(tmp_path / "hf").tok_embeddings.weight.dtype == torch.bfloat16
