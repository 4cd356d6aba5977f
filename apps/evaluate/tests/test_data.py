"""The evaluation files are read through lm-core's JSONL reader: a bad line is an error
naming the file and line, never a silently smaller task."""

import gzip

import pytest

from lm_evaluate.config import InputError
from lm_evaluate.data import read_jsonl


def test_read_jsonl_names_the_bad_line(tmp_path):
    path = tmp_path / "piqa.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write(b'{"goal": "a"}\n\n{"goal": "caf\xe9"}\n')
    with pytest.raises(InputError, match=rf"{path}:3: invalid UTF-8"):
        read_jsonl(path)
    assert read_jsonl(path, limit=1) == [{"goal": "a"}]
    path = tmp_path / "lambada.jsonl"
    path.write_bytes(b'["not", "an object"]\n')
    with pytest.raises(InputError, match=rf"{path}:1: expected a JSON object"):
        read_jsonl(path)
