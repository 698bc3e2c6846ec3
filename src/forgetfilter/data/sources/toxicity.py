"""Toxic and non-toxic text with a toxicity score in [0, 1] (higher is more toxic), as plain-text examples."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from forgetfilter.data.jsonl import read_jsonl
from forgetfilter.data.sources._common import dataset_file, plain_text_example, prompt_only
from forgetfilter.errors import DataError
from forgetfilter.examples import Example, make_id

HSO_FILE = ("hate-speech-offensive", "labeled_data.csv")
RTP_FILE = ("realtoxicityprompts", "challenging_rtp.jsonl")
PILE_COLUMNS = ("texts", "scores")


def load_hate_speech_offensive(data_dir: str | Path | None = None) -> list[Example]:
    """Davidson et al. (2017) tweets; ``meta["toxicity"] = (hate_speech + offensive_language) / count``."""
    path = dataset_file(data_dir, *HSO_FILE)
    examples = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            try:
                score = (int(row["hate_speech"]) + int(row["offensive_language"])) / int(row["count"])
                text, row_id = row["tweet"], row[""]
            except (KeyError, ValueError, ZeroDivisionError, TypeError) as exc:
                raise DataError(f"bad row ({type(exc).__name__}: {exc})", path=path, record=row_number) from None
            examples.append(
                plain_text_example(
                    text,
                    id=make_id("hate-speech-offensive", row_id),
                    source="hate-speech-offensive",
                    role=None,
                    original=dict(row),
                    meta={"toxicity": score, "class": int(row["class"]), "row": row_id},
                )
            )
    return examples


def load_realtoxicityprompts(data_dir: str | Path | None = None) -> list[Example]:
    """The 1,196 "challenging" RTP prompts (prompt-only, plain text); ``meta["toxicity"]`` = the shipped score."""
    path = dataset_file(data_dir, *RTP_FILE)
    return [
        prompt_only(
            record["text"],
            id=make_id("realtoxicityprompts", line),
            source="realtoxicityprompts",
            original=record,
            meta={"toxicity": float(record["score"]), "line": line},
            safety_kind="toxicity",
            chat=False,
        )
        for line, record in read_jsonl(path)
    ]


def _pile_rows(path: Path) -> list[dict[str, Any]]:
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a bad file
        raise DataError(f"cannot read parquet file ({exc})", path=path) from None
    missing = [c for c in PILE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing columns {missing}; pile-detoxify has texts, meta, scores, avg_score, num_sents", path=path
        )
    return frame.to_dict(orient="records")


def load_pile_detoxify(path: str | Path) -> list[Example]:
    """A ``tomekkorbak/pile-detoxify`` parquet shard, flattened to one example per sentence.

    Like the authors' ``process_toxic.py``: each sentence keeps its own Detoxify score (``meta["toxicity"]``).
    """
    path = Path(path)
    examples = []
    for doc, row in enumerate(_pile_rows(path)):
        texts, scores = list(row["texts"]), list(row["scores"])
        if len(texts) != len(scores):
            raise DataError(f"{len(texts)} texts but {len(scores)} scores", path=path, record=doc)
        for sent, (text, score) in enumerate(zip(texts, scores, strict=True)):
            original = {"text": text, "score": float(score), "doc": doc, "sent": sent, "meta": row.get("meta")}
            examples.append(
                plain_text_example(
                    text,
                    id=make_id("pile-detoxify", path.name, doc, sent),
                    source="pile-detoxify",
                    role=None,
                    original=original,
                    meta={"toxicity": float(score), "doc": doc, "sent": sent},
                )
            )
    return examples
