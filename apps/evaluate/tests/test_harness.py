"""The lm-eval adapter on tasks defined in local YAML files with local data (no hub access)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")

from lm_evaluate import HarnessConfig, Scorer, run_piqa
from lm_evaluate.harness import LMModelHarness, run_harness
from lm_model.hf import load_dir

N = 8

PIQA_YAML = """task: piqa_local
dataset_path: json
dataset_kwargs:
  data_files:
    validation: {data}
output_type: multiple_choice
validation_split: validation
doc_to_text: "Question: {{{{goal}}}}\\nAnswer:"
doc_to_target: label
doc_to_choice: "{{{{[sol1, sol2]}}}}"
metric_list:
  - metric: acc
  - metric: acc_norm
"""

TEXT_YAML = """task: text_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: loglikelihood_rolling
test_split: test
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: word_perplexity
  - metric: byte_perplexity
  - metric: bits_per_byte
"""

GSM8K_YAML = """task: gsm8k_local
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
output_type: generate_until
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{answer.split('####')[-1].strip()}}}}"
generation_kwargs:
  until: ["Question:", "\\n\\n"]
  max_gen_toks: 8
  do_sample: false
metric_list:
  - metric: exact_match
"""


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory, data_dir) -> Path:
    d = tmp_path_factory.mktemp("tasks")
    records = (data_dir / "eval" / "piqa-valid.jsonl").read_text().split("\n")[:N]
    labels = (data_dir / "eval" / "piqa-valid-labels.lst").read_text().split("\n")[:N]
    rows = [{**json.loads(r), "label": int(lab)} for r, lab in zip(records, labels, strict=True)]
    (d / "piqa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = (data_dir / "pretrain" / "tinyshakespeare.txt").read_text()
    docs = [{"text": text[i * 700:(i + 1) * 700]} for i in range(3)]
    (d / "text.jsonl").write_text("".join(json.dumps(r) + "\n" for r in docs))
    (d / "piqa_local.yaml").write_text(PIQA_YAML.format(data=d / "piqa.jsonl"))
    (d / "text_local.yaml").write_text(TEXT_YAML.format(data=d / "text.jsonl"))
    (d / "gsm8k_local.yaml").write_text(
        GSM8K_YAML.format(data=data_dir / "eval" / "gsm8k-test.jsonl")
    )
    return d


@pytest.mark.slow
def test_harness_runs_local_tasks_and_agrees_with_our_scorer(
    model_dir, task_dir, data_dir, tmp_path
):
    cfg = HarnessConfig(model=model_dir, tasks=("piqa_local", "text_local", "gsm8k_local"),
                        include_path=task_dir, limit=N, batch_size=8, output=tmp_path)
    results = run_harness(cfg)["results"]
    assert set(results) == {"piqa_local", "text_local", "gsm8k_local"}

    # Same prompts, same scorer: lm-eval's PIQA accuracy equals lm-evaluate's own.
    model, tok = load_dir(model_dir, device="cpu")
    ours = run_piqa(Scorer(model, tok), data_dir / "eval" / "piqa-valid.jsonl",
                    data_dir / "eval" / "piqa-valid-labels.lst", limit=N)["metrics"]
    assert results["piqa_local"]["acc,none"] == pytest.approx(ours["acc"])
    assert results["piqa_local"]["acc_norm,none"] == pytest.approx(ours["acc_norm"])

    # Rolling log-likelihood: lm-eval's bits-per-byte equals a direct computation.
    scorer = Scorer(model, tok)
    docs = [
        json.loads(line)["text"]
        for line in (task_dir / "text.jsonl").read_text().split("\n")
        if line
    ]
    nll = sum(scorer.rolling_nll(scorer.encode(d), stride=scorer.max_length) for d in docs)
    n_bytes = sum(len(d.encode()) for d in docs)
    assert results["text_local"]["bits_per_byte,none"] == pytest.approx(
        nll / n_bytes / math.log(2), rel=1e-4
    )

    assert 0.0 <= results["gsm8k_local"]["exact_match,none"] <= 1.0
    saved = json.loads((tmp_path / "harness-results.json").read_text())
    assert saved["results"]["piqa_local"]["acc,none"] == results["piqa_local"]["acc,none"]


def test_adapter_is_registered_and_generates_until_a_stop_string(model_dir):
    from lm_eval.api.instance import Instance
    from lm_eval.api.registry import get_model

    assert get_model("lm-model") is LMModelHarness
    lm = LMModelHarness.create_from_arg_string(
        f"pretrained={model_dir},batch_size=4", {"device": "cpu"}
    )
    req = Instance(request_type="generate_until", doc={}, idx=0,
                   arguments=("First Citizen:", {"until": ["e"], "max_gen_toks": 20}))
    (out,) = lm.generate_until([req])
    assert "e" not in out
    ll = lm.loglikelihood([Instance(request_type="loglikelihood", doc={}, idx=0,
                                    arguments=("", "Before we proceed"))])
    assert ll[0][0] < 0
