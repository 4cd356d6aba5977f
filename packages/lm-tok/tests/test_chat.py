"""The tokenizer directory loads in transformers; the chat template masks exactly the assistant."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from lm_tok import ASSISTANT, BOS, END_OF_TURN, EOS, PAD, render_chat

transformers = pytest.importorskip("transformers")

CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is 2024 + 1234567?"},
    {"role": "assistant", "content": "1236591."},
    {"role": "user", "content": "And in words,\n\tindented?"},
    {"role": "assistant", "content": " One million, two hundred… 🎉\n"},
]


@pytest.fixture(scope="module")
def hf(tok_dir):
    return transformers.PreTrainedTokenizerFast.from_pretrained(tok_dir)


def test_directory_loads_in_tokenizers_and_transformers(tok_dir, hf):
    assert Tokenizer.from_file(str(tok_dir / "tokenizer.json")).get_vocab_size() == 2000
    auto = transformers.AutoTokenizer.from_pretrained(tok_dir)
    for t in (hf, auto):
        assert (t.bos_token, t.eos_token, t.pad_token) == (BOS, EOS, PAD)
        assert t.pad_token_id == t.convert_tokens_to_ids(PAD)
        assert (
            t("hello 2024").input_ids
            == Tokenizer.from_file(str(tok_dir / "tokenizer.json")).encode("hello 2024").ids
        )
    cfg = json.loads((tok_dir / "tokenizer_config.json").read_text())
    assert "{% generation %}" in cfg["chat_template"]


def test_chat_template_renders_like_render_chat(hf):
    assert hf.apply_chat_template(CONVERSATION, tokenize=False) == render_chat(CONVERSATION)
    prompt = hf.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    assert prompt == render_chat(CONVERSATION[:2], add_generation_prompt=True)
    assert prompt.endswith(ASSISTANT)
    with pytest.raises(Exception, match="unknown chat role"):
        hf.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_assistant_mask_covers_exactly_the_replies_and_their_end_of_turn(hf):
    out = hf.apply_chat_template(CONVERSATION, return_assistant_tokens_mask=True, return_dict=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    assert len(ids) == len(mask) and ids[0] == hf.bos_token_id
    # Runs of masked tokens, decoded, are exactly each reply followed by <|eot|>.
    runs, current = [], []
    for i, m in zip(ids, mask, strict=True):
        if m:
            current.append(i)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    replies = [m["content"] + END_OF_TURN for m in CONVERSATION if m["role"] == "assistant"]
    assert [hf.decode(r) for r in runs] == replies
    unmasked = hf.decode([i for i, m in zip(ids, mask, strict=True) if not m])
    assert "1236591" not in unmasked and "🎉" not in unmasked
    assert unmasked.count(ASSISTANT) == 2  # the role token is prompt, not target


def test_directory_carries_the_stop_tokens_for_generation(tok_dir):
    """eos and the end-of-turn token, as transformers reads them (and lm_model.hf.stop_ids)."""
    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    saved = json.loads((tok_dir / "generation_config.json").read_text())
    eos, eot = tok.token_to_id(EOS), tok.token_to_id(END_OF_TURN)
    assert saved == {"bos_token_id": tok.token_to_id(BOS), "eos_token_id": [eos, eot],
                     "pad_token_id": tok.token_to_id(PAD)}
    assert transformers.GenerationConfig.from_pretrained(tok_dir).eos_token_id == [eos, eot]
