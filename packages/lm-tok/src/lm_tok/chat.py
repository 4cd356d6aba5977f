"""Special tokens and the chat template that every lm-tok tokenizer carries.

A conversation renders as::

    <|bos|><|system|>You are terse.<|eot|><|user|>Hi<|eot|><|assistant|>Hello.<|eot|>

Role tokens open a turn and ``<|eot|>`` closes it. The assistant's content *and* its
``<|eot|>`` sit inside ``{% generation %}``, so trl's assistant-only loss trains the model
to emit ``<|eot|>``, which is where generation should stop.
"""

from __future__ import annotations

BOS = "<|bos|>"
"""Start of a document or a conversation."""
EOS = "<|eos|>"
"""End of a document in the token shards."""
PAD = "<|pad|>"
"""Padding; never trained on."""
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
END_OF_TURN = "<|eot|>"
"""Closes every chat turn; a chat model stops generating here."""

ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}
"""The roles a conversation may hold, and the token that opens each one's turn."""
STOP_TOKENS = (EOS, END_OF_TURN)
"""Where generated text ends: saved as `generation_config.json`'s eos_token_id in every
tokenizer directory, which is what `lm_model.hf.stop_ids` reads."""
#: lm-tok's special tokens in id order: they take ids 0..6 of every trained tokenizer.
SPECIAL_TOKENS = (BOS, EOS, PAD, SYSTEM, USER, ASSISTANT, END_OF_TURN)

# One line per statement would leave newlines in the rendered text; Jinja's `-` trims them.
CHAT_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "<|assistant|>{% generation %}{{ message['content'] }}<|eot|>{% endgeneration %}"
    "{%- elif message['role'] in ['system', 'user'] -%}"
    "<|{{ message['role'] }}|>{{ message['content'] }}<|eot|>"
    "{%- else -%}"
    "{{ raise_exception('unknown chat role: ' ~ message['role']) }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|assistant|>{%- endif -%}"
)
"""Jinja chat template (transformers' dialect, with its `generation` block)."""


def render_chat(messages: list[dict[str, str]], *, add_generation_prompt: bool = False) -> str:
    """The template's output without transformers: for tests and for users of `tokenizers` alone."""
    parts = [BOS]
    for m in messages:
        role = m["role"]
        if role not in ROLE_TOKENS:
            raise ValueError(f"unknown chat role: {role}")
        parts.append(f"{ROLE_TOKENS[role]}{m['content']}{END_OF_TURN}")
    if add_generation_prompt:
        parts.append(ASSISTANT)
    return "".join(parts)
