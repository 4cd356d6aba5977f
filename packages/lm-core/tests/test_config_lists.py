"""A list of config tables (`[[inputs]]`) is checked as strictly as a single table."""

from dataclasses import dataclass, field

import pytest

from lm_core import ConfigError
from lm_core.config import from_dict


@dataclass(kw_only=True)
class Item:
    """One entry."""

    path: str = ""
    """A path."""


@dataclass(kw_only=True)
class Holder:
    """Several entries."""

    items: list[Item] = field(default_factory=list)
    """The entries."""


def test_an_unknown_key_in_a_list_of_tables_is_an_error():
    assert from_dict(Holder, {"items": [{"path": "a"}, {"path": "b"}]}).items[1].path == "b"
    with pytest.raises(ConfigError, match=r"items\.1\.pth: unknown key \(known: path\)"):
        from_dict(Holder, {"items": [{"path": "a"}, {"pth": "b"}]})
