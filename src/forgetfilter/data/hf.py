"""Examples as a Hugging Face ``datasets.Dataset``, in the input's own columns, ready for TRL's SFTTrainer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from forgetfilter.data.files import Layout
from forgetfilter.data.formats import output_records
from forgetfilter.errors import DataError
from forgetfilter.examples import Example

if TYPE_CHECKING:
    from datasets import Dataset


def to_dataset(examples: Sequence[Example], *, format: str | None = None, layout: Layout | None = None) -> Dataset:
    """One row per example, one column per key of any record (a key a record lacks is None there).

    ``format`` is ``write_examples``'s: None for each example's own record, ``"native"`` for ``messages`` or
    ``prompt``/``completion``. A parquet ``layout`` gives the columns their types (also with no row left).
    """
    import pyarrow as pa
    from datasets import Dataset

    records = output_records(examples, format=format)
    originals = format is None and all(e.original for e in examples)
    schema = layout.arrow_schema if originals and layout is not None and layout.kind == "parquet" else None
    try:
        if schema is not None:
            table = pa.Table.from_pylist(records, schema=schema)
        else:  # every key of every record (from_pylist alone would keep the first record's keys only)
            keys = list(dict.fromkeys(key for record in records for key in record))
            table = pa.Table.from_pydict({key: [record.get(key) for record in records] for key in keys})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"the kept records do not make one table: {exc}; give one type per field") from None
    return Dataset(table)
