"""An exported model carries its tokenizer's stop tokens, where lm-chat and lm-evaluate read
them."""

import json

from lm_dist_testdata import make_cfg

from lm_dist.checkpoint import export
from lm_dist.trainer import train
from lm_model.hf import stop_ids


def test_export_copies_generation_config_so_stop_ids_reads_eos_and_end_of_turn(shard_dir, tmp_path):
    train(make_cfg(tmp_path / "run", shard_dir, steps=1))
    tok = tmp_path / "tok"  # laid out as lm-tok saves one (lm-dist may not import lm-tok)
    tok.mkdir()
    (tok / "tokenizer.json").write_text(json.dumps({"added_tokens": [
        {"id": 1, "content": "<|eos|>"}, {"id": 6, "content": "<|eot|>"}]}))
    (tok / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|eos|>"}))
    (tok / "generation_config.json").write_text(json.dumps({"eos_token_id": [1, 6]}))
    out = export(tmp_path / "run", tmp_path / "hf", tokenizer_dir=tok)
    assert stop_ids(out) == [1, 6]
