"""The CLI reports config and input errors in one line, and lets bugs keep their traceback."""

from __future__ import annotations

import pytest

from lm_evaluate.cli import main


@pytest.mark.parametrize("bug", [ValueError("internal"), KeyError("internal")])
def test_internal_errors_keep_their_traceback(tmp_path, monkeypatch, bug):
    def broken(cfg, progress):
        raise bug

    monkeypatch.setattr("lm_evaluate.cli.evaluate", broken)
    with pytest.raises(type(bug), match="internal"):
        main(["run", "--model", str(tmp_path), "--tasks", "piqa"])


def test_bad_config_is_an_error_without_traceback(tmp_path, capsys):
    assert main(["run", "--model", str(tmp_path), "--mmlu-shots", "6"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lm-evaluate run: error: --mmlu-shots: mmlu_shots: must be in 0..5")
    assert len(err.splitlines()) == 1


def test_bad_input_file_is_a_one_line_error(model_dir, tmp_path, capsys):
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "piqa-valid.jsonl").write_text(
        '{"goal": "g", "sol1": "a", "sol2": "b"}\nnot json\n'
    )
    (eval_dir / "piqa-valid-labels.lst").write_text("0\n1\n")
    args = ["run", "--model", str(model_dir), "--data_dir", str(tmp_path), "--tasks", "piqa"]
    assert main(args) == 2
    assert capsys.readouterr().err.startswith(
        f"lm-evaluate run: error: {eval_dir / 'piqa-valid.jsonl'}:2: invalid JSON")
