import gzip

import pytest

from forgetfilter.data.jsonl import read_jsonl
from forgetfilter.errors import DataError


def test_records_keep_their_line_numbers_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": 1}\n\n{"id": 2}\n', encoding="utf-8")
    assert read_jsonl(path) == [(1, {"id": 1}), (3, {"id": 2})]
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(path.read_bytes()))
    assert read_jsonl(packed) == read_jsonl(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"id": 1, "text": "x"}\n{"id": \n', r"a.jsonl, line 2: malformed JSON line"),
        ('{"id": 1, "text": "x"}\n[1, 2]\n', r"a.jsonl, line 2: expected a JSON object, got list"),
        ('{"id": 1, "text": "x"}\n{"id": 2}\n', r"a.jsonl, line 2: record lacks text"),
    ],
)
def test_faults_name_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "a.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_jsonl(path, required=("id", "text"))
