import json

import numpy as np
import pytest
import torch
from shards import write_shards

from lm_dist.data import TokenLoader, TokenShards


def _loader(shards, **kw):
    return TokenLoader(shards, seq_len=16, batch_size=kw.pop("batch_size", 4), **kw)


def test_batches_are_shifted_windows_of_the_stream(shard_dir):
    shards = TokenShards(shard_dir)
    stream = np.concatenate([np.fromfile(s.path, dtype="<u2") for s in shards.shards])
    loader = _loader(shards, shuffle=False)
    inputs, targets = loader.next_batch()
    assert inputs.dtype == torch.int64 and inputs.shape == (4, 16)
    assert torch.equal(inputs[1], torch.from_numpy(stream[16:32].astype(np.int64)))
    assert torch.equal(targets[:, :-1], inputs[:, 1:])
    # A window that crosses the boundary between two shard files.
    boundary = shards.shards[0].num_tokens
    assert np.array_equal(shards.read(boundary - 3, 6), stream[boundary - 3:boundary + 3])


def test_resume_gives_exactly_the_next_batch(shard_dir):
    shards = TokenShards(shard_dir)
    loader = _loader(shards, seed=7)
    for _ in range(5):
        loader.next_batch()
    state = json.loads(json.dumps(loader.state_dict()))  # it travels as JSON
    expected = [loader.next_batch() for _ in range(3)]
    resumed = _loader(TokenShards(shard_dir), seed=7)
    resumed.load_state_dict(state)
    for want in expected:
        got = resumed.next_batch()
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_ranks_are_disjoint_and_cover_the_global_batch(shard_dir):
    shards = TokenShards(shard_dir)
    single = _loader(shards, batch_size=8, seed=3)
    ranks = [_loader(shards, batch_size=2, dp_rank=r, dp_size=4, seed=3) for r in range(4)]
    for _ in range(3):
        whole = single.next_batch()[0]
        parts = [r.next_batch()[0] for r in ranks]
        assert torch.equal(torch.cat(parts), whole)  # covering, in rank order
        rows = {tuple(row.tolist()) for part in parts for row in part}
        assert len(rows) == 8  # disjoint


def test_epochs_reshuffle_deterministically(tmp_path):
    shards = TokenShards(write_shards(tmp_path / "small", num_tokens=16 * 8 + 1, num_shards=1))
    a, b, c = (_loader(shards, seed=s) for s in (1, 1, 2))
    first = [a.next_batch()[0] for _ in range(4)]  # two epochs of 8 windows
    assert all(torch.equal(x, b.next_batch()[0]) for x in first)
    epoch0 = {tuple(r.tolist()) for x in first[:2] for r in x}
    epoch1 = {tuple(r.tolist()) for x in first[2:] for r in x}
    assert epoch0 == epoch1 and len(epoch0) == 8  # every window once per epoch
    assert not torch.equal(torch.cat(first[:2]), torch.cat(first[2:]))  # reshuffled
    assert not torch.equal(first[0], c.next_batch()[0])


def _corrupt(directory, **changes):
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            manifest.pop(key)
        else:
            manifest[key] = value
    path.write_text(json.dumps(manifest))


def test_manifest_errors_name_the_file_and_field(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"manifest\.json"):
        TokenShards(tmp_path)
    d = write_shards(tmp_path / "a", num_tokens=1000, num_shards=1)
    _corrupt(d, dtype="int8")
    with pytest.raises(ValueError, match=r"manifest\.json.*'dtype'"):
        TokenShards(d)
    d = write_shards(tmp_path / "b", num_tokens=1000, num_shards=1)
    _corrupt(d, eos_id=None)
    with pytest.raises(ValueError, match=r"missing field\(s\) \['eos_id'\]"):
        TokenShards(d)
    d = write_shards(tmp_path / "c", num_tokens=1000, num_shards=1)
    (d / "shard-00000.bin").write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match=r"shard-00000\.bin.*num_tokens"):
        TokenShards(d)


def test_token_ids_beyond_the_model_vocab_fail_before_training(tmp_path):
    d = write_shards(tmp_path / "big", vocab_size=1000, num_tokens=2000, dtype="uint32")
    with pytest.raises(ValueError, match="vocab_size 1000 exceeds the model's vocab_size 512"):
        TokenShards(d).check_vocab(512)
    _corrupt(d, vocab_size=512)  # the manifest lies: the scan catches it, naming the shard
    with pytest.raises(ValueError, match=r"shard-0000\d.bin: token id \d+ >= the model's vocab_size 512"):
        TokenShards(d).check_vocab(512)
