"""The errors lm-align raises about what it is given: lm-core's, shared by every lm-stack
command, which reports exactly these in one line.

Both are `ValueError`s, so callers that caught ValueError still do. Anything else that escapes
a run is a bug (or a library's own error) and keeps its traceback.
"""

from __future__ import annotations

from lm_core import ConfigError, InputError

__all__ = ["ConfigError", "InputError"]
