import pytest

from lm_dist.cli import parse_train
from lm_dist.config import (
    DataConfig,
    ModelSection,
    OptimizerConfig,
    ParallelConfig,
    TrainConfig,
)


def test_layout_must_match_the_world_size():
    with pytest.raises(ValueError, match=r"pp\*dp_replicate\*dp_shard\*tp = 2\*1\*2\*2 = 8 != world size 4"):
        ParallelConfig(pp=2, dp_shard=2, tp=2).resolved(4)
    with pytest.raises(ValueError, match="dp_replicate\\*tp\\*pp = 3 does not divide the world size 4"):
        ParallelConfig(tp=3).resolved(4)
    assert ParallelConfig(tp=2).resolved(8).dp_shard == 4


@pytest.mark.parametrize("make, field", [
    (lambda: ParallelConfig(tp=0), "ParallelConfig.tp"),
    (lambda: ParallelConfig(pp_schedule="2F2B"), "parallel.pp_schedule"),
    (lambda: OptimizerConfig(lr=-1.0), "optim.lr"),
    (lambda: OptimizerConfig(betas=(0.9, 1.5)), "optim.betas"),
    (lambda: DataConfig(seq_len=0), "DataConfig.seq_len"),
    (lambda: ModelSection(preset="huge"), "model.preset"),
    (lambda: ModelSection(preset="debug", overrides={"widht": 3}), "widht"),
    (lambda: TrainConfig(model=ModelSection(preset="debug"), data=DataConfig(seq_len=1024)),
     "data.seq_len"),
    (lambda: TrainConfig(model=ModelSection(preset="debug"), data=DataConfig(seq_len=64),
                         parallel=ParallelConfig(pp=4, pp_schedule="Interleaved1F1B")),
     "8 pipeline stages"),
    (lambda: TrainConfig(model=ModelSection(preset="debug", overrides={"tie_embeddings": True}),
                         data=DataConfig(seq_len=64), parallel=ParallelConfig(pp=2)),
     "tie_embeddings"),
])
def test_bad_values_name_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_toml_round_trip_and_cli_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("""
run_dir = "runs/x"
[model]
preset = "debug"
overrides = { n_layers = 4 }
[parallel]
tp = 2
[optim]
lr = 1e-3
[data]
path = "shards"
seq_len = 64
""")
    cfg = parse_train([str(path), "--optim.lr", "5e-4", "--parallel.pp", "2"])
    assert cfg.optim.lr == 5e-4 and cfg.parallel.pp == 2 and cfg.parallel.tp == 2
    assert cfg.model.build().n_layers == 4
    again = tmp_path / "again.toml"
    again.write_text(cfg.to_toml())
    assert TrainConfig.from_toml(again) == cfg


def test_unknown_tables_and_keys_are_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[optim]\nlearning_rate = 1.0\n")
    with pytest.raises(ValueError, match=r"bad.toml: unknown field\(s\) \['learning_rate'\] in \[optim\]"):
        TrainConfig.from_toml(path)
    path.write_text("[optimiser]\nlr = 1.0\n")
    with pytest.raises(ValueError, match=r"unknown config table\(s\) \['optimiser'\]"):
        TrainConfig.from_toml(path)
    with pytest.raises(SystemExit, match="not found"):
        parse_train([str(tmp_path / "missing.toml")])
