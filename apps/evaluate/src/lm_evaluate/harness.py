"""An adapter that lets EleutherAI's lm-eval harness evaluate an lm-model directory.

Importing this module registers the model as ``lm-model`` (needs ``lm-evaluate[harness]``)::

    import lm_eval, lm_evaluate.harness
    lm_eval.simple_evaluate(model="lm-model", model_args="pretrained=out/hf", tasks=[...])

Scoring goes through the same `Scorer` as lm-evaluate's own tasks, so both give the same
log-likelihoods for the same prompt. Offline by default: this project never downloads, so
tasks must name local data files (``dataset_path: json`` + ``dataset_kwargs.data_files``).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

# Set before datasets/huggingface_hub are imported, which read them once.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    import lm_eval
    from lm_eval.api.model import TemplateLM
    from lm_eval.api.registry import register_model
    from lm_eval.tasks import TaskManager
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the lm-eval adapter needs the harness extra: pip install 'lm-evaluate[harness]'"
    ) from e

from lm_evaluate.config import HarnessConfig
from lm_evaluate.scorer import TokenRequest, cut_at_stop, load_scorer

logger = logging.getLogger(__name__)


@register_model("lm-model")
class LMModelHarness(TemplateLM):
    """lm-eval's `LM` interface over an lm-model Hugging Face directory."""

    def __init__(self, pretrained: str, batch_size: int | str = 16, device: str | None = None,
                 dtype: str = "auto", max_length: int | None = None, **kwargs: Any) -> None:
        super().__init__()
        if kwargs:
            logger.warning("lm-model ignores model_args %s", sorted(kwargs))
        batch = 16 if str(batch_size).startswith("auto") else int(batch_size)
        self.scorer = load_scorer(pretrained, device=device, dtype=dtype, batch_size=batch,
                                  max_length=int(max_length) if max_length else None)
        self.tokenizer = self.scorer.tokenizer
        self._device = self.scorer.device
        self.pretrained = str(pretrained)

    @property
    def eot_token_id(self) -> int:
        return self.scorer.eos_id

    @property
    def prefix_token_id(self) -> int:
        # An empty context is conditioned on bos, the token every training document starts with.
        return self.scorer.bos_id

    @property
    def max_length(self) -> int:
        return self.scorer.max_length

    @property
    def tokenizer_name(self) -> str:
        return self.pretrained.replace("/", "__")

    def tok_encode(
        self, string: str, add_special_tokens: bool | None = None, **kwargs: Any
    ) -> list[int]:
        ids = self.scorer.encode(string)
        return [self.scorer.bos_id, *ids] if add_special_tokens else ids

    def tok_decode(self, tokens: list[int], **kwargs: Any) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    def _with_bos(self, ids: list[int]) -> list[int]:
        return ids if ids and ids[0] == self.scorer.bos_id else [self.scorer.bos_id, *ids]

    def _loglikelihood_tokens(
        self,
        requests: list[tuple[tuple[str, str], list[int], list[int]]],
        disable_tqdm: bool = False,
        **kwargs: Any,
    ) -> list[tuple[float, bool]]:
        token_requests = [
            TokenRequest(self._with_bos(list(ctx)), list(cont)) for _, ctx, cont in requests
        ]
        results = self.scorer.loglikelihood(token_requests)
        for (pair, _, _), result in zip(requests, results, strict=True):
            self.cache_hook.add_partial("loglikelihood", pair, result)
        return results

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        """Total log-likelihood of each whole text, in disjoint windows of max_length (as
        lm-eval's HF model)."""
        windows, owners = [], []
        for i, req in enumerate(requests):
            (text,) = req.args
            ids = self.tok_encode(text)
            if not ids:
                raise ValueError(f"loglikelihood_rolling: request {i} has an empty text")
            new = self.scorer.rolling_windows(ids, stride=self.max_length)
            windows += new
            owners += [i] * len(new)
        totals = [0.0] * len(requests)
        for owner, (logprob, _) in zip(owners, self.scorer.loglikelihood(windows), strict=True):
            totals[owner] += logprob
        return totals

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        outputs = []
        for req in requests:
            context, gen_kwargs = req.args
            gen_kwargs = dict(gen_kwargs or {})
            until = gen_kwargs.pop("until", None) or []
            until = [until] if isinstance(until, str) else list(until)
            max_new = int(gen_kwargs.pop("max_gen_toks", 256))
            temperature = (
                float(gen_kwargs.pop("temperature", 0.0))
                if gen_kwargs.pop("do_sample", False)
                else 0.0
            )
            text = self.scorer.generate_text(self._with_bos(self.tok_encode(context)),
                                             max_new_tokens=max_new, stop=until,
                                             temperature=temperature, seed=0)
            outputs.append(cut_at_stop(text, until))
            self.cache_hook.add_partial("generate_until", req.args, outputs[-1])
        return outputs

    def apply_chat_template(
        self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True
    ) -> str:
        """The tokenizer's chat template as text (its special tokens are parsed back by
        tok_encode)."""
        return self.tokenizer.apply_chat_template(chat_history, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)


def run_harness(cfg: HarnessConfig) -> dict[str, Any]:
    """`lm_eval.simple_evaluate` on `cfg.model` with the tasks of `cfg` (and `include_path`)."""
    lm = LMModelHarness(
        str(cfg.model), batch_size=cfg.batch_size, device=cfg.device, dtype=cfg.dtype
    )
    manager = TaskManager(include_path=str(cfg.include_path) if cfg.include_path else None)
    results = lm_eval.simple_evaluate(model=lm, tasks=list(cfg.tasks), num_fewshot=cfg.num_fewshot,
                                      limit=cfg.limit, task_manager=manager, log_samples=False,
                                      bootstrap_iters=0)
    if results is None:
        raise ValueError("lm-eval returned no results")
    if cfg.output is not None:
        cfg.output.mkdir(parents=True, exist_ok=True)
        keep = {k: results[k] for k in ("results", "versions", "n-shot", "configs") if k in results}
        (cfg.output / "harness-results.json").write_text(
            json.dumps(keep, indent=2, default=str) + "\n"
        )
    return results
