"""lm-evaluate: evaluate an exported lm-model directory on local-file tasks.

Bits-per-byte and perplexity on held-out text (WikiText-2 or your own files), LAMBADA, PIQA
and MMLU by log-likelihood, GSM8K by generation; `lm_evaluate.harness` registers the model
with EleutherAI's lm-eval.
"""

from lm_evaluate.choice import Question, choice_accuracy, run_mmlu, run_piqa
from lm_evaluate.config import DEFAULT_FILES, DEFAULT_TASKS, TASKS, EvalConfig, HarnessConfig
from lm_evaluate.gsm8k import last_number, run_gsm8k, strict_number
from lm_evaluate.lambada import run_lambada, split_last_word
from lm_evaluate.perplexity import (
    heldout_documents,
    perplexity,
    run_heldout,
    run_wikitext,
    wikitext_articles,
)
from lm_evaluate.runner import check_inputs, evaluate, markdown_table
from lm_evaluate.scorer import Scorer, TokenRequest, bits_per_byte, load_scorer

__all__ = [
    "DEFAULT_FILES",
    "DEFAULT_TASKS",
    "TASKS",
    "EvalConfig",
    "HarnessConfig",
    "Question",
    "Scorer",
    "TokenRequest",
    "bits_per_byte",
    "check_inputs",
    "choice_accuracy",
    "evaluate",
    "heldout_documents",
    "last_number",
    "load_scorer",
    "markdown_table",
    "perplexity",
    "run_gsm8k",
    "run_heldout",
    "run_lambada",
    "run_mmlu",
    "run_piqa",
    "run_wikitext",
    "split_last_word",
    "strict_number",
    "wikitext_articles",
]
