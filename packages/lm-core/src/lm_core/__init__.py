"""lm-core: what every lm-stack package shares, and nothing else.

- `lm_core.config`: dataclass configs from TOML files and `--section.field VALUE` flags, strictly
  (an unknown key is an error), coerced by pydantic, and written back as TOML.
- `lm_core.cli`: the one command-line shape,
  `PROG COMMAND [CONFIG.toml] [--section.field VALUE ...]`.
- `lm_core.jsonl`: the one JSONL(.gz) reader, with line-numbered errors.
"""

from lm_core.errors import ConfigError, InputError

__all__ = ["ConfigError", "InputError"]
