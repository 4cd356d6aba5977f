import re

import pytest

from lm_core.config import load
from lm_dist.cli import main
from lm_dist.config import (
    ConfigError,
    DataConfig,
    ModelSection,
    OptimizerConfig,
    ParallelConfig,
    TrainConfig,
)


def test_layout_must_match_the_world_size():
    with pytest.raises(
        ValueError, match=r"pp\*dp_replicate\*dp_shard\*tp = 2\*1\*2\*2 = 8 != world size 4"
    ):
        ParallelConfig(pp=2, dp_shard=2, tp=2).resolved(4)
    with pytest.raises(
        ValueError, match="dp_replicate\\*tp\\*pp = 3 does not divide the world size 4"
    ):
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
    cfg = load(TrainConfig, path, ["--optim.lr", "5e-4", "--parallel.pp", "2"])
    assert cfg.optim.lr == 5e-4 and cfg.parallel.pp == 2 and cfg.parallel.tp == 2
    assert cfg.model.build().n_layers == 4
    again = tmp_path / "again.toml"
    again.write_text(cfg.to_toml())
    assert TrainConfig.from_toml(again) == cfg


def test_unknown_tables_and_keys_are_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[optim]\nlearning_rate = 1.0\n")
    with pytest.raises(ValueError, match=r"bad.toml: optim.learning_rate: unknown key \(known: "):
        TrainConfig.from_toml(path)
    path.write_text("[optimiser]\nlr = 1.0\n")
    with pytest.raises(ValueError, match=r"bad.toml: optimiser: unknown key \(known: checkpoint"):
        TrainConfig.from_toml(path)


def test_a_missing_config_file_is_one_line(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.toml")]) == 2
    assert capsys.readouterr().err == (
        f"lm-dist train: error: config file {tmp_path / 'missing.toml'} does not exist\n")


def _toml(tmp_path, body):
    path = tmp_path / "run.toml"
    path.write_text('[model]\npreset = "debug"\n[data]\nseq_len = 64\n' + body)
    return path


def test_toml_strings_are_coerced_to_the_field_types(tmp_path):
    cfg = TrainConfig.from_toml(_toml(tmp_path, '[train]\ncompile = "False"\nsteps = "7"\n'
                                                '[checkpoint]\nenabled = "false"\n'))
    assert cfg.train.compile is False and cfg.train.steps == 7 and cfg.checkpoint.enabled is False


def test_model_overrides_are_coerced_to_model_config_types(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        '[model]\npreset = "debug"\noverrides = { tie_embeddings = "false", n_layers = "4" }\n'
        "[data]\nseq_len = 64\n[parallel]\npp = 2\n"
    )
    cfg = TrainConfig.from_toml(path)  # "false" was truthy: pp=2 refused tied embeddings
    model = cfg.model.build()
    assert model.tie_embeddings is False and model.n_layers == 4
    assert cfg.model.overrides == {"tie_embeddings": False, "n_layers": 4}


@pytest.mark.parametrize("body, message", [
    ('[train]\ncompile = "Flase"\n', r"run\.toml: train\.compile: Input should be a valid boolean"),
    ("[train]\nsteps = 2.5\n", r"run\.toml: train\.steps: Input should be a valid integer"),
    ('[optim]\nbetas = "0.9"\n', r"run\.toml: optim\.betas: Input should be a valid tuple"),
    ('[train]\ndtype = "fp8"\n', r"run\.toml: train\.dtype: Input should be 'float32'"),
    ('run_dir = 3\n', r"run\.toml: run_dir: Input should be a valid string"),
])
def test_wrong_types_name_the_file_and_field(tmp_path, body, message):
    path = tmp_path / "run.toml"
    path.write_text(
        body + '[model]\npreset = "debug"\n[data]\nseq_len = 64\n'
    )  # top-level keys first
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_toml(path)


def test_bad_model_overrides_name_the_field(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[model]\npreset = "debug"\noverrides = { qk_norm = "maybe" }\n')
    message = r"run\.toml: model\.overrides: qk_norm: Input should be a valid boolean"
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_toml(path)
    path.write_text('[model]\npreset = "debug"\noverrides = { widht = 3 }\n')
    with pytest.raises(ConfigError, match=r"model\.overrides: widht: unknown key \(known: "):
        TrainConfig.from_toml(path)


def test_toml_syntax_error_is_one_line_with_the_line(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text("[train]\nsteps = \n")
    assert main(["train", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.match(r"lm-dist train: error: .*run\.toml: invalid TOML: .*line 2", err)
    assert len(err.splitlines()) == 1
