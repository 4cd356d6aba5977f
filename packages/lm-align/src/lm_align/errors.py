"""The errors lm-align raises about what it is given; the CLI reports exactly these in one line.

Both are `ValueError`s, so callers that caught ValueError still do. Anything else that escapes
a run is a bug (or a library's own error) and keeps its traceback.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A config file, table or field that cannot be used; the message names it."""


class InputError(ValueError):
    """An input (data file, model directory, tokenizer) that cannot be used; the message names it."""
