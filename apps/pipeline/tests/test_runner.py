import pytest

from lm_core.config import load
from lm_pipeline.config import STAGES, PipelineConfig, demo_dir
from lm_pipeline.runner import MARKER, run_stages


def _recording_stages(calls):
    def make(stage):
        def fn(cfg, out):
            calls.append(stage)
            (out / "output.txt").write_text(stage)
            return {"stage": stage}
        return fn
    return {s: make(s) for s in STAGES}


@pytest.mark.wheel
def test_stages_are_cached_and_redone_from_a_changed_stage(tmp_path):
    cfg = PipelineConfig(preset="micro", run_dir=tmp_path)
    calls = []
    run_stages(cfg, _recording_stages(calls))
    assert calls == list(STAGES)
    assert all((tmp_path / s / MARKER).is_file() for s in STAGES)

    calls.clear()
    results = run_stages(cfg, _recording_stages(calls))
    assert calls == [] and all(r.skipped for r in results)

    # A new SFT setting redoes SFT and everything after it, nothing before.
    cfg.sft["train"]["max_steps"] += 1
    run_stages(cfg, _recording_stages(calls))
    assert calls == list(STAGES[STAGES.index("sft"):])

    calls.clear()
    run_stages(cfg, _recording_stages(calls), redo_from="eval")
    assert calls == ["eval", "chat", "report"]


@pytest.mark.wheel
@pytest.mark.parametrize(("flag", "value", "first"), [
    ("--corpus.max_book_chars", "10", "data"),
    ("--data.dedup.minhash", "false", "data"),
    ("--tokenizer.tokenizer.min_frequency", "3", "tokenize"),
    ("--encode.add_bos", "false", "tokenize"),
    ("--pretrain.train.z_loss", "1e-4", "pretrain"),
    ("--dpo.loss_type", "ipo", "dpo"),
    ("--eval.task_limits.piqa", "3", "eval"),
    ("--chat.max_new_tokens", "3", "chat"),
    ("--chat_prompts", "hello", "chat"),
])
def test_a_changed_package_field_redoes_its_stage_and_the_later_ones(tmp_path, flag, value, first):
    args = ["--preset", "micro", "--run-dir", str(tmp_path)]
    run_stages(load(PipelineConfig, None, args), _recording_stages([]))
    calls = []
    run_stages(load(PipelineConfig, None, [*args, flag, value]), _recording_stages(calls))
    assert calls == list(STAGES[STAGES.index(first):])


@pytest.mark.wheel
def test_a_failed_stage_leaves_no_marker_and_reruns(tmp_path):
    cfg = PipelineConfig(preset="micro", run_dir=tmp_path)
    calls = []
    stages = _recording_stages(calls)

    def broken(cfg, out):
        (out / "partial").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        run_stages(cfg, {**stages, "pretrain": broken})
    assert not (tmp_path / "pretrain" / MARKER).exists()
    calls.clear()
    run_stages(cfg, stages)
    assert calls == list(STAGES[STAGES.index("pretrain"):])
    assert not (tmp_path / "pretrain" / "partial").exists()  # the folder was emptied first


@pytest.mark.wheel
def test_an_unknown_stage_and_a_missing_data_dir_are_refused(tmp_path):
    with pytest.raises(ValueError, match="redo_from"):
        run_stages(PipelineConfig(run_dir=tmp_path), {}, redo_from="nope")
    with pytest.raises(FileNotFoundError, match="web"):
        PipelineConfig(data_dir=tmp_path)


@pytest.mark.wheel
def test_demo_pack_ships_with_its_provenance():
    demo = demo_dir()
    readme = (demo / "README.md").read_text()
    files = [p for p in demo.rglob("*") if p.is_file() and p.name != "README.md"]
    assert sum(p.stat().st_size for p in files) < 6_000_000
    for p in files:
        stem = p.name.removesuffix("-labels.lst")
        assert p.name in readme or stem.split(".")[0] in readme, f"{p.name} has no provenance row"
    assert "BY-NC" not in readme  # non-commercial data never ships
