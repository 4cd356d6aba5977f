import json

import numpy as np
import pytest
import torch
from lm_dist_ranks import run_on_ranks
from lm_dist_testdata import make_cfg, write_shards

from lm_dist.data import TokenLoader, TokenShards
from lm_dist.trainer import train


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
    _corrupt(d, vocab_size=512)  # the manifest lies: the scan catches it
    shards = TokenShards(d)
    with pytest.raises(ValueError, match=r"big: token id \d+ >= the model's vocab_size 512"):
        shards.check_vocab(512, max_token_id=shards.scan_max_token_id())


def _scan_in_training(cfg):
    """Train one step, recording which shards this rank scans for token ids."""
    import torch.distributed as dist

    from lm_dist import data as data_module

    scanned = []
    maps = data_module.TokenShards.maps

    class Spy(list):
        def __getitem__(self, index):
            picked = list.__getitem__(self, index)
            if isinstance(index, slice):
                scanned.extend(range(len(self))[index])
            return picked

    data_module.TokenShards.maps = property(lambda self: Spy(maps.fget(self)))
    try:
        train(cfg)
    except ValueError as e:
        return scanned, str(e), dist.is_initialized()
    return scanned, None, dist.is_initialized()


def test_token_id_scan_is_shared_by_the_ranks(tmp_path):
    """Without a recorded max_token_id each rank scans its own shards, and all agree."""
    d = write_shards(tmp_path / "four", num_tokens=8000, num_shards=4)
    tokens = np.fromfile(d / "shard-00003.bin", dtype="<u2")
    tokens[5] = 600  # beyond the debug model's 512, in the shard rank 1 scans
    tokens.tofile(d / "shard-00003.bin")
    cfg = make_cfg(tmp_path / "run", d, steps=1, batch_size=4, parallel={"dp_shard": 2})
    (s0, e0, _), (s1, e1, _) = run_on_ranks(2, _scan_in_training, cfg)
    assert sorted(s0) == [0, 2] and sorted(s1) == [1, 3]
    assert e0 == e1 and "token id 600 >= the model's vocab_size 512" in e0


def test_recorded_max_token_id_needs_no_scan(tmp_path, monkeypatch):
    d = write_shards(tmp_path / "rec", num_tokens=2000)
    _corrupt(d, max_token_id=700)  # lm-tok's record is trusted: no scan, and it is checked
    monkeypatch.setattr(TokenShards, "scan_max_token_id", lambda *a, **k: pytest.fail("scanned"))
    with pytest.raises(ValueError, match="token id 700 >= the model's vocab_size 512"):
        train(make_cfg(tmp_path / "run", d, steps=1))
