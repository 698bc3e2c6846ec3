"""Property-based fuzzing of the readers: any bytes load or give one DataError naming the file; every record a reader
accepts is written back unchanged."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forgetfilter.data.formats import read_examples, write_examples
from forgetfilter.errors import DataError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# text as users have it: any printable or control character, the JSON-legal line separators among them
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
FIELD = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(lambda s: s.strip())


def _check_error(exc: DataError, path) -> None:
    message = str(exc)
    assert str(path) in message and "\n" not in message.strip() and "Traceback" not in message


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
@FUZZ
@given(data=st.one_of(st.binary(max_size=300), TEXT.map(lambda t: t.encode("utf-8"))))
def test_any_bytes_load_or_give_a_one_line_data_error(tmp_path_factory, suffix, data):
    path = tmp_path_factory.mktemp("fuzz") / f"input{suffix}"
    path.write_bytes(data)
    try:
        read_examples(path, skip_invalid=False)
    except DataError as exc:
        _check_error(exc, path)


@FUZZ
@given(
    records=st.lists(
        st.fixed_dictionaries(
            {
                "k": st.recursive(
                    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=8,
                )
            }
        ),
        max_size=4,
    )
)
def test_arbitrary_json_values_load_or_give_a_data_error(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("fuzz") / "input.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    try:
        read_examples(path, skip_invalid=True)
    except DataError as exc:
        _check_error(exc, path)


ALPACA = st.fixed_dictionaries(
    {"instruction": FIELD, "input": TEXT, "output": FIELD},
    optional={
        "role": st.sampled_from(["unsafe", "safe", "task"]),
        "score": st.floats(allow_nan=False, allow_infinity=False),
    },
)
CHAT = st.fixed_dictionaries(
    {
        "messages": st.tuples(FIELD, FIELD).map(
            lambda pair: [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
        )
    }
)
PROMPT_COMPLETION = st.fixed_dictionaries({"prompt": FIELD, "completion": FIELD})


def _unique(records):
    return [{**r, "id": f"r{i}"} for i, r in enumerate(records)]


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
@FUZZ
@given(records=st.lists(st.one_of(ALPACA, CHAT, PROMPT_COMPLETION), min_size=1, max_size=5).map(_unique))
def test_accepted_json_records_are_written_back_unchanged(tmp_path_factory, suffix, records):
    folder = tmp_path_factory.mktemp("roundtrip")
    path = folder / f"input{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    else:
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    examples = read_examples(path).examples
    assert len(examples) == len(records)
    out = write_examples(examples, folder / f"out{suffix}")
    text = out.read_text(encoding="utf-8")
    back = [json.loads(line) for line in text.split("\n") if line] if suffix == ".jsonl" else json.loads(text)
    assert back == records
    assert [ex.response for ex in read_examples(out).examples] == [ex.response for ex in examples]


@FUZZ
@given(rows=st.lists(st.tuples(FIELD, TEXT, FIELD), min_size=1, max_size=5))
def test_accepted_csv_rows_are_written_back_unchanged(tmp_path_factory, rows):
    import csv

    folder = tmp_path_factory.mktemp("csv")
    records = [{"id": f"r{i}", "instruction": a, "input": b, "output": c} for i, (a, b, c) in enumerate(rows)]
    path = folder / "input.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "instruction", "input", "output"])
        writer.writeheader()
        writer.writerows(records)
    examples = read_examples(path).examples
    out = write_examples(examples, folder / "out.csv")
    with out.open(encoding="utf-8", newline="") as handle:
        assert list(csv.DictReader(handle)) == records
