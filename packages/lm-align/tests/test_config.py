"""Configs: TOML plus flag overrides, validation before any work, CPU-friendly trl args."""

from __future__ import annotations

import re

import pytest
from align_testdata import GSM8K, HH_RLHF

from lm_align.cli import main
from lm_align.config import (
    AlignDataConfig,
    DPORunConfig,
    SFTRunConfig,
    TrainerConfig,
    trainer_kwargs,
)
from lm_align.errors import ConfigError
from lm_core.config import load

pytestmark = pytest.mark.wheel


@pytest.fixture
def model_dir(tmp_path):
    d = tmp_path / "hf"
    d.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (d / name).write_text("{}")
    return d


def _toml(tmp_path, model_dir, data_file, extra=""):
    path = tmp_path / "run.toml"
    path.write_text(f"""
model = "{model_dir}"
output = "{tmp_path / 'out'}"
{extra}
[data]
train = ["{data_file}"]
max_train_examples = 300
[train]
learning_rate = 3e-3
max_steps = 40
[train.extra]
disable_tqdm = true
""")
    return path


def test_sft_toml_and_flag_overrides(tmp_path, model_dir):
    path = _toml(tmp_path, model_dir, GSM8K, "packing = true")
    cfg = load(SFTRunConfig, path)
    assert cfg.packing and cfg.assistant_only_loss and cfg.train.learning_rate == 3e-3
    assert cfg.data.max_train_examples == 300 and cfg.train.extra == {"disable_tqdm": True}
    cfg = load(SFTRunConfig, path, ["--train.learning-rate", "1e-4", "--packing", "false",
                                    "--data.max_train_examples", "50"])
    assert cfg.train.learning_rate == 1e-4 and not cfg.packing
    assert cfg.data.max_train_examples == 50 and cfg.train.max_steps == 40


def test_dpo_toml_keeps_its_own_learning_rate_default(tmp_path, model_dir):
    path = tmp_path / "dpo.toml"
    path.write_text(
        f'model = "{model_dir}"\noutput = "o"\nbeta = 0.2\n[data]\ntrain = ["{HH_RLHF}"]\n'
        "[train]\nmax_steps = 3\n"
    )
    cfg = load(DPORunConfig, path)
    assert cfg.beta == 0.2 and cfg.train.learning_rate == 1e-6 and cfg.ref_model is None
    cfg = load(DPORunConfig, path, ["--loss_type", "ipo", "--beta", "0.5",
                                    "--train.extra.label_smoothing", "0.1"])
    assert cfg.loss_type == "ipo" and cfg.beta == 0.5
    assert cfg.train.extra == {"label_smoothing": 0.1}
    unknown = r"^--train\.extra\.rpo_alhpa: train\.extra: \[.rpo_alhpa.\] are not fields of trl"
    with pytest.raises(ConfigError, match=unknown):
        load(DPORunConfig, path, ["--train.extra.rpo_alhpa", "1.0"])
    assert load(SFTRunConfig, _toml(tmp_path, model_dir, GSM8K).parent / "run.toml",
                ["--train.learning_rate", "2e-5"]).train.learning_rate == 2e-5


@pytest.mark.parametrize(("change", "message"), [
    ({"learning_rate": 0}, "train.learning_rate"),
    ({"max_steps": 0}, "train.max_steps"),
    ({"warmup_steps": 2.5}, "train.warmup_steps"),
    ({"max_length": 4}, "train.max_length"),
    ({"extra": {"bf16": True}}, "train.extra"),
])
def test_training_config_names_the_bad_field(change, message):
    with pytest.raises(ValueError, match=message):
        TrainerConfig(**change)


def test_run_configs_fail_before_any_work(tmp_path, model_dir):
    data = AlignDataConfig(train=(GSM8K,))
    prefs = AlignDataConfig(train=(HH_RLHF,), format="hh_rlhf")
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        SFTRunConfig(model=tmp_path, output=tmp_path / "o", data=data)
    with pytest.raises(ValueError, match="needs sft examples"):
        SFTRunConfig(model=model_dir, output=tmp_path / "o", data=prefs)
    with pytest.raises(ValueError, match=r"train.extra: \['no_such_field'\]"):
        SFTRunConfig(model=model_dir, output=tmp_path / "o", data=data,
                     train=TrainerConfig(extra={"no_such_field": 1}))
    with pytest.raises(ValueError, match="beta"):
        DPORunConfig(model=model_dir, output=tmp_path / "o", data=prefs, beta=0)
    with pytest.raises(ValueError, match="loss_type"):
        DPORunConfig(model=model_dir, output=tmp_path / "o", data=prefs, loss_type="nope")
    with pytest.raises(FileNotFoundError, match=r"nothere\.jsonl"):
        AlignDataConfig(train=(tmp_path / "nothere.jsonl",))
    with pytest.raises(ValueError, match=r"data\.format"):
        AlignDataConfig(train=(GSM8K,), format="csv")
    with pytest.raises(FileNotFoundError, match=r"run\.toml: model: .*missing"):
        load(SFTRunConfig, _toml(tmp_path, tmp_path / "missing", GSM8K))


def test_cpu_defaults_never_ask_for_bf16_gpu_or_network(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    kw = trainer_kwargs(TrainerConfig(report_to="wandb"), tmp_path)
    assert kw["use_cpu"] and kw["bf16"] is False and kw["fp16"] is False
    assert kw["report_to"] == "wandb" and kw["trust_remote_code"] is False
    assert kw["save_strategy"] == "no" and kw["eval_strategy"] == "no"
    import os

    assert os.environ["WANDB_MODE"] == "offline"
    with pytest.raises(ValueError, match=r"train\.bf16"):
        trainer_kwargs(TrainerConfig(bf16=True), tmp_path)
    assert trainer_kwargs(TrainerConfig(), tmp_path)["report_to"] == "none"


def test_trainer_kwargs_build_a_valid_trl_config(tmp_path):
    from trl import DPOConfig, SFTConfig

    kw = trainer_kwargs(TrainerConfig(max_steps=5, eval_steps=2, save_steps=3), tmp_path)
    sft = SFTConfig(**kw, assistant_only_loss=True)
    assert sft.max_steps == 5 and sft.eval_steps == 2 and sft.save_steps == 3
    assert sft.output_dir == str(tmp_path / "checkpoints") and not sft.gradient_checkpointing
    dpo = DPOConfig(**kw, beta=0.3, loss_type=["ipo"])
    assert dpo.beta == 0.3 and dpo.loss_type == ["ipo"]


def test_cli_usage_and_errors(capsys, tmp_path):
    assert main([]) == 2
    assert main(["sft", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err


def test_toml_strings_are_coerced_to_the_field_types(tmp_path, model_dir):
    path = _toml(tmp_path, model_dir, GSM8K, 'packing = "False"\nassistant_only_loss = "true"')
    text = path.read_text().replace(
        "max_steps = 40", 'max_steps = "40"\ngradient_checkpointing = "yes"'
    )
    path.write_text(text)
    cfg = load(SFTRunConfig, path)
    assert cfg.packing is False and cfg.assistant_only_loss is True
    assert cfg.train.max_steps == 40 and cfg.train.gradient_checkpointing is True


@pytest.mark.parametrize(("extra", "message"), [
    ('packing = "Flase"', r"run\.toml: packing: Input should be a valid boolean"),
    ("beta = 0.1", r"run\.toml: beta: unknown key \(known: "),
    ("assistant_only_loss = 2", r"run\.toml: assistant_only_loss: Input should be a valid boolean"),
])
def test_bad_toml_values_name_the_file_and_field(tmp_path, model_dir, extra, message):
    with pytest.raises(ConfigError, match=message):
        load(SFTRunConfig, _toml(tmp_path, model_dir, GSM8K, extra))


def test_wrong_type_and_unknown_key_in_a_table(tmp_path, model_dir):
    path = _toml(tmp_path, model_dir, GSM8K)
    path.write_text(path.read_text().replace("max_steps = 40", "max_steps = 2.5"))
    with pytest.raises(
        ConfigError, match=r"run\.toml: train\.max_steps: Input should be a valid integer"
    ):
        load(SFTRunConfig, path)
    path.write_text(path.read_text().replace("max_steps = 2.5", "max_step = 40"))
    with pytest.raises(ConfigError, match=r"run\.toml: train\.max_step: unknown key"):
        load(SFTRunConfig, path)


def test_toml_syntax_error_is_one_line(tmp_path, capsys):
    path = tmp_path / "broken.toml"
    path.write_text('model = "m"\noutput = \n')
    assert main(["sft", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(
        r"broken\.toml: invalid TOML: .*line 2", err
    )


@pytest.mark.parametrize("bug", [ValueError("internal"), KeyError("internal")])
def test_internal_errors_keep_their_traceback(tmp_path, model_dir, capsys, monkeypatch, bug):
    from lm_align import cli

    def broken(cfg):
        raise bug

    monkeypatch.setattr("lm_align.sft.main", broken)
    path = _toml(tmp_path, model_dir, GSM8K)
    with pytest.raises(type(bug), match="internal"):
        cli.main(["sft", str(path)])
    path.write_text(path.read_text().replace("max_steps = 40", "max_steps = 0"))
    assert cli.main(["sft", str(path)]) == 2  # a bad config is still a one-line error
    assert "train.max_steps: must be > 0 or -1" in capsys.readouterr().err
