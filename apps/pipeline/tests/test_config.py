"""The pipeline's config holds each package's config unchanged: any package field can be set
from the pipeline's TOML file or a flag, and arrives in the config the stage hands the package."""

import pytest

from lm_core import ConfigError
from lm_core.config import load, read_toml, write_resolved
from lm_pipeline.cli import main
from lm_pipeline.config import PRESETS, PipelineConfig
from lm_pipeline.pipeline import check
from lm_pipeline.training import align_config, pretrain_config

DEEP_TOML = """\
preset = "micro"

[pretrain.train]
z_loss = 1e-4

[dpo]
loss_type = "ipo"
"""


def _fake_model_dir(path):
    """What lm-align checks of an input model directory, without a model."""
    path.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (path / name).write_text("{}")


@pytest.fixture
def deep_toml(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(DEEP_TOML)
    return path


@pytest.mark.wheel
@pytest.mark.parametrize("source", ["toml", "flags"])
def test_a_deep_package_field_reaches_the_package_config(tmp_path, deep_toml, source):
    run_dir = tmp_path / "run"
    if source == "toml":
        cfg = load(PipelineConfig, deep_toml, ["--run-dir", str(run_dir)])
    else:
        cfg = load(PipelineConfig, None, ["--preset", "micro", "--run-dir", str(run_dir),
                                          "--pretrain.train.z_loss", "1e-4",
                                          "--dpo.loss-type", "ipo"])
    train_cfg = pretrain_config(cfg, vocab_size=512)
    written = read_toml(write_resolved(train_cfg, tmp_path, "train.toml"))
    assert written["train"]["z_loss"] == 1e-4
    # The preset's values and the stage's paths are there too, in lm-dist's own field names.
    assert written["train"]["steps"] == PRESETS["micro"]["pretrain"]["train"]["steps"]
    assert written["model"]["overrides"]["vocab_size"] == 512
    assert written["data"]["path"] == str(run_dir / "tokenize" / "shards-train")

    _fake_model_dir(run_dir / "sft" / "hf")
    dpo = align_config(cfg, "dpo")
    assert dpo.loss_type == "ipo"
    assert dpo.train.learning_rate == PRESETS["micro"]["dpo"]["train"]["learning_rate"]
    assert read_toml(write_resolved(dpo, tmp_path, "dpo.toml"))["loss_type"] == "ipo"


@pytest.mark.wheel
def test_flags_override_the_file_which_overrides_the_preset(deep_toml):
    cfg = load(PipelineConfig, deep_toml, ["--pretrain.train.z_loss", "0.5",
                                           "--pretrain.optim.lr", "1e-3"])
    assert cfg.pretrain["train"] == {**PRESETS["micro"]["pretrain"]["train"], "z_loss": 0.5}
    assert cfg.pretrain["optim"]["lr"] == 1e-3
    assert cfg.pretrain["model"]["preset"] == "debug"  # from the preset, under the file


@pytest.mark.wheel
@pytest.mark.parametrize(("dotted", "value", "named"), [
    ("sft.model", "/elsewhere", "sft.model"),
    ("pretrain.data.path", "/shards", "pretrain.data.path"),
    ("encode.output", "/x", "encode.output"), ("data.input.paths", '["a.warc"]', "data.input"),
    ("data.inputs", '[{paths = ["a.warc"]}]', "data.inputs"),
    ("pretrain.model.overrides.vocab_size", "99", "pretrain.model.overrides.vocab_size"),
])
def test_a_path_the_stage_owns_cannot_be_set(dotted, value, named):
    named = named.replace(".", "[.]")
    with pytest.raises(ConfigError, match=rf"^--{dotted}: {named}: set by the pipeline"):
        load(PipelineConfig, None, [f"--{dotted}", value])


@pytest.mark.wheel
@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--pretrain.optim.z_lss", "1", r"pretrain: optim.z_lss: unknown key"),
    ("--pretrain.train.steps", "0", r"pretrain: train\b.*steps"),
    ("--pretrain.model.preset", "huge", r"pretrain: model.preset"),
    ("--tokenizer.tokenizer.vocab_size", "100", r"tokenizer: tokenizer.vocab_size"),
    ("--sft.train.learning_rate", "-1", r"sft: train.learning_rate"),
    ("--dpo.loss_type", "nope", r"dpo: loss_type"),
    ("--eval.limit", "0", r"eval: limit"),
    ("--chat.temperature", "-1", r"chat: temperature"),
    ("--data.dedup.n_grams", "0", r"data: dedup.n_grams"),
])
def test_a_bad_package_field_fails_before_any_stage_runs(tmp_path, flag, value, message):
    cfg = load(PipelineConfig, None, ["--preset", "micro", "--run-dir", str(tmp_path), flag, value])
    with pytest.raises(ConfigError, match=message):
        check(cfg)
    assert not any(tmp_path.iterdir())  # nothing ran


@pytest.mark.wheel
def test_every_preset_passes_the_package_checks(tmp_path):
    for preset in PRESETS:
        check(PipelineConfig(preset=preset, run_dir=tmp_path / preset))


@pytest.mark.wheel
def test_an_unknown_preset_is_one_line_naming_it(capsys):
    assert main(["--preset", "huge"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lm-pipeline run: error: ") and "preset" in err and "huge" in err
    assert "\n" not in err


@pytest.mark.wheel
def test_help_shows_the_sections_with_their_docstrings(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.replace("│", " ").split())
    for flag, doc in (("--preset", "Named overrides (PRESETS)"), ("--run_dir", "Where every stage"),
                      ("--nproc", "Processes for pretraining"), ("--redo_from", "Redo this stage")):
        assert flag in flat and doc in flat
    # The sections show the values the preset gives, under the packages' own field names.
    assert "--pretrain.train.steps INT (default: 600)" in flat
    assert "[pretrain]" in flat and "lm-dist train" in flat
