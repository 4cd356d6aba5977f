"""The two errors every lm-stack command reports as one line instead of a traceback."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config file, table, field or flag that cannot be used; the message names it."""


class InputError(ValueError):
    """An input file or record that cannot be read; the message names the file (and line)."""
