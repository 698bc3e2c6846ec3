"""User file formats: detection, round trips, and an error message for each kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forgetfilter.data.formats import read_examples, write_examples
from forgetfilter.errors import DataError

ALPACA = [
    {"instruction": "Add.", "input": "1+1", "output": "2", "role": "task"},
    {"instruction": "Insult me.", "input": "", "output": "No.", "role": "safe", "id": "x1"},
]
SHAREGPT = [
    {
        "conversations": [
            {"from": "system", "value": "Be nice."},
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hello!"},
        ]
    }
]
MESSAGES = [
    {
        "messages": [
            {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "A1"},
            {"role": "user", "content": "Q2"},
            {"role": "assistant", "content": "A2"},
        ],
        "role": "unsafe",
        "safety_kind": "bias",
    }
]
PC_TEXT = [{"prompt": "The quick brown", "completion": "fox jumps."}]
PC_CHAT = [{"prompt": [{"role": "user", "content": "Hi"}], "completion": [{"role": "assistant", "content": "Yo"}]}]


def _jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("records", "name"),
    [
        (ALPACA, "alpaca"),
        (SHAREGPT, "sharegpt"),
        (MESSAGES, "messages"),
        (PC_TEXT, "prompt_completion"),
        (PC_CHAT, "prompt_completion"),
    ],
)
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_detect_read_and_write_back(tmp_path, records, name, suffix):
    import pandas as pd

    path = tmp_path / f"in{suffix}"
    if suffix == ".jsonl":
        _jsonl(path, records)
    elif suffix == ".json":
        path.write_text(json.dumps(records))
    else:
        pd.DataFrame(records).to_parquet(path)
    result = read_examples(path)
    assert result.format == name and len(result.examples) == len(records)
    out = write_examples(result.examples, tmp_path / f"out{suffix}")
    again = read_examples(out)
    assert again.examples == result.examples
    if suffix != ".parquet":
        assert [dict(e.original) for e in again.examples] == records


def test_fields_are_honoured(tmp_path):
    result = read_examples(_jsonl(tmp_path / "a.jsonl", ALPACA))
    first, second = result.examples
    assert first.prompt_text == "Add.\n\n1+1" and first.response == "2" and first.role == "task"
    assert second.id == "x1" and second.role == "safe" and first.id.startswith("user-")
    chat = read_examples(_jsonl(tmp_path / "m.jsonl", MESSAGES)).examples[0]
    assert [m["content"] for m in chat.messages] == ["Q1", "A1", "Q2"] and chat.response == "A2"
    assert chat.safety_kind == "bias"
    sg = read_examples(_jsonl(tmp_path / "s.jsonl", SHAREGPT)).examples[0]
    assert sg.messages[0] == {"role": "system", "content": "Be nice."}
    text = read_examples(_jsonl(tmp_path / "p.jsonl", PC_TEXT)).examples[0]
    assert not text.chat and text.prompt_text == "The quick brown"


def test_csv_columns(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("prompt,response,role\nHi,Hello,safe\nBye,Ciao,\n", encoding="utf-8")
    result = read_examples(path)
    assert result.format == "prompt_response" and [e.role for e in result.examples] == ["safe", None]
    write_examples(result.examples[:1], tmp_path / "o.csv")
    assert (tmp_path / "o.csv").read_text().splitlines() == ["prompt,response,role", "Hi,Hello,safe"]
    path.write_text("instruction,output\nDo,Done\n")
    assert read_examples(path).format == "alpaca"


def test_format_override_and_unknown(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", ALPACA)
    assert read_examples(path, format="alpaca").format == "alpaca"
    with pytest.raises(
        DataError,
        match="unknown format 'alpacca'; known formats: messages, sharegpt, "
        "prompt_completion, prompt_response, alpaca; did you mean 'alpaca'",
    ):
        read_examples(path, format="alpacca")
    with pytest.raises(DataError, match=r"line 1: field 'messages' must be a non-empty list"):
        read_examples(path, format="messages")


def test_malformed_json_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "a", "output": "b"}\n{"instruction": \n')
    with pytest.raises(DataError, match=r"bad.jsonl, line 2: malformed JSON line"):
        read_examples(path)
    result = read_examples(path, skip_invalid=True)
    assert len(result.examples) == 1 and result.rejected[0][:1] == ("line 2",)


def test_malformed_json_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[\n{"instruction": "a",\n]')
    with pytest.raises(DataError, match=r"bad.json, line 3: malformed JSON"):
        read_examples(path)


def test_missing_and_mistyped_fields(tmp_path):
    path = _jsonl(tmp_path / "a.jsonl", [ALPACA[0], {"instruction": "x"}, {"instruction": "y", "output": 3}])
    with pytest.raises(DataError, match=r"line 2: missing field 'output' \(found \['instruction'\]\)"):
        read_examples(path)
    result = read_examples(path, skip_invalid=True)
    assert [r[:2] for r in result.rejected] == [
        ("line 2", "missing field 'output' (found ['instruction'])"),
        ("line 3", "field 'output' must be a string, found int"),
    ]
    bad_role = _jsonl(tmp_path / "r.jsonl", [{**ALPACA[0], "role": "toxic"}])
    with pytest.raises(DataError, match="field 'role' is 'toxic'; expected one of unsafe, safe, task"):
        read_examples(bad_role)
    no_target = _jsonl(tmp_path / "m.jsonl", [{"messages": [{"role": "user", "content": "Hi"}]}])
    with pytest.raises(DataError, match="last turn of 'messages' must be the assistant's"):
        read_examples(no_target)


def test_undetectable_record(tmp_path):
    path = _jsonl(tmp_path / "u.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(
        DataError,
        match=r"u.jsonl, line 1: cannot detect the format: the record has "
        r"\['answer', 'question'\]; known formats: messages \(messages\)",
    ):
        read_examples(path)


def test_empty_file(tmp_path):
    for name, text in (("e.jsonl", ""), ("e.json", "  \n"), ("l.json", "[]")):
        (tmp_path / name).write_text(text)
        with pytest.raises(DataError, match="file is empty|no records in file"):
            read_examples(tmp_path / name)


def test_non_utf8(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"instruction": "a", "output": "b"}\n{"instruction": "caf\xe9", "output": "b"}\n')
    with pytest.raises(DataError, match=r"latin.jsonl, line 2: not UTF-8: byte 0xe9 at byte offset 56"):
        read_examples(path)


def test_duplicate_ids(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", [ALPACA[1], ALPACA[0], ALPACA[1]])
    with pytest.raises(DataError, match=r"d.jsonl, line 3: duplicate id 'x1' \(first at line 1\)"):
        read_examples(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("hi")
    with pytest.raises(DataError, match=r"unknown file extension '.txt'; known: .json, .jsonl"):
        read_examples(path)


def test_real_alpaca_file_reads(data_dir):
    result = read_examples(data_dir / "alpaca" / "random_9k.json")
    assert result.format == "alpaca" and len(result.examples) == 9_229


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("big.jsonl", '{"prompt": "a", "completion": "b", "x": 1e999}\n', "line 1: number 1e999 is out of the range"),
        ("nan.jsonl", '{"prompt": "a", "completion": "b", "x": NaN}\n', "line 1: NaN is not valid JSON"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "JSON nested too deeply to read"),
        ("lone.jsonl", '{"prompt": "a\\ud800", "completion": "b"}\n', "line 1: a string holds a lone surrogate"),
        ("dup.csv", "instruction,output,output\na,b,c\n", "line 1: the header has column 'output' twice"),
        ("wide.csv", "instruction,output\na,b,c\n", "line 2: 3 fields where the header has 2"),
    ],
)
def test_values_that_could_not_be_written_back_are_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(")):
        read_examples(path)


def test_a_csv_field_longer_than_the_csv_module_default_is_read(tmp_path):
    path = tmp_path / "long.csv"
    long = "x" * 200_000
    path.write_text(f"instruction,output\nq,{long}\n")
    assert read_examples(path).examples[0].response == long


def test_parquet_is_written_back_with_its_values_and_column_types(tmp_path):
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "instruction": ["a", "b"],
            "output": ["x", "y"],
            "tiny": [1.23e-12, 3.141592653589793],
            "count": pa.array([2**53 + 1, None], type=pa.int64()),
            "when": pa.array([datetime.datetime(2024, 5, 1, 12, 30, 15, 123456)] * 2, type=pa.timestamp("us")),
        }
    )
    path = tmp_path / "in.parquet"
    pq.write_table(table, path)
    read = read_examples(path)
    out = write_examples(read.examples, tmp_path / "out.parquet", layout=read.layout)
    assert pq.read_table(out).equals(table)
    empty = write_examples([], tmp_path / "none.parquet", layout=read.layout)
    assert pq.read_table(empty).schema.equals(table.schema) and pq.read_table(empty).num_rows == 0


def test_a_json_data_wrapper_is_written_back_around_the_records(tmp_path):
    wrapped = {"version": 2, "data": ALPACA, "license": "cc-by"}
    path = tmp_path / "in.json"
    path.write_text(json.dumps(wrapped))
    read = read_examples(path)
    out = write_examples(read.examples[:1], tmp_path / "out.json", layout=read.layout)
    assert json.loads(out.read_text()) == {**wrapped, "data": ALPACA[:1]}
    assert list(json.loads(out.read_text())) == ["version", "data", "license"]
