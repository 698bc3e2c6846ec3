"""Every loader on the real shared datasets, and the hub-only schemas on tiny files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from forgetfilter.data import sources
from forgetfilter.data.sources._common import split_prefix
from forgetfilter.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures"


def _unique_ids(examples):
    assert len({e.id for e in examples}) == len(examples)


def test_bbq_counts_meta_and_biased_answer(data_dir):
    examples = sources.load_bbq(data_dir)
    assert len(examples) == 11_956
    _unique_ids(examples)
    assert Counter(e.meta["context_condition"] for e in examples) == {"ambig": 5978, "disambig": 5978}
    first = examples[0]  # Age, neg, ambig: grandfather (old, stereotyped) vs grandson
    assert first.meta["answers"] == ["The grandfather", "The grandson", "Can't be determined"]
    assert first.meta["unknown_index"] == 2 and first.meta["stereotyped_index"] == 0
    assert first.response == "Can't be determined" and first.original["example_id"] == 0
    assert "A. The grandfather" in first.prompt_text and first.prompt_text == sources.format_bbq_prompt(first.meta)
    assert sources.format_bbq_prompt(first.original) == first.prompt_text
    for e in examples:
        assert e.meta["stereotyped_index"] != e.meta["unknown_index"]
        if e.meta["context_condition"] == "ambig":
            assert e.meta["label"] == e.meta["unknown_index"]


def test_bbq_nonneg_biased_answer_is_the_other_group(data_dir):
    age = sources.load_bbq(data_dir, categories=["Age"])
    nonneg = next(e for e in age if e.meta["question_polarity"] == "nonneg")
    groups = nonneg.meta["answer_groups"]
    assert groups[nonneg.meta["stereotyped_index"]] not in nonneg.original["additional_metadata"]["stereotyped_groups"]


def test_bbq_unknown_category(data_dir):
    with pytest.raises(DataError, match="BBQ categories \\['Gender'\\] not found; available: Age"):
        sources.load_bbq(data_dir, categories=["Gender"])


def test_squad_and_alpaca(data_dir):
    squad = sources.load_squad(data_dir)
    assert len(squad) == 10_570 and len({e.meta["title"] for e in squad}) == 48
    assert squad[0].response == squad[0].meta["answers"][0] and squad[0].role == "task"
    alpaca = sources.load_alpaca(data_dir)
    assert len(alpaca) == 9_229
    assert sum(not e.response for e in alpaca) == 4
    with_input = next(e for e in alpaca if e.original["input"].strip())
    assert with_input.prompt_text == f"{with_input.original['instruction']}\n\n{with_input.original['input']}"
    assert len(sources.load_alpaca(data_dir / "alpaca" / "random_9k.json")) == 9_229


def test_toxicity_sources(data_dir):
    hso = sources.load_hate_speech_offensive(data_dir)
    assert len(hso) == 24_783
    assert sum(e.meta["toxicity"] >= 0.9 for e in hso) == 18_892
    assert sum(e.meta["toxicity"] <= 0.1 for e in hso) == 2_872
    e = hso[0]
    assert not e.chat and e.safety_kind == "toxicity" and len(e.prompt_text.split()) == 3
    assert " ".join(e.original["tweet"].split()) == " ".join(f"{e.prompt_text} {e.response}".split())
    rtp = sources.load_realtoxicityprompts(data_dir)
    assert len(rtp) == 1_196 and all(0 <= r.meta["toxicity"] <= 1 and r.response == "" for r in rtp)


def test_split_prefix():
    assert split_prefix("  one two  three four five ") == ("one two  three", "four five")
    assert split_prefix("one two") == ("one two", "")


def test_pile_detoxify_schema(tmp_path):
    import pandas as pd

    rows = [
        {
            "texts": ["Hello there my friend.", "You are a total idiot really."],
            "meta": {"pile_set_name": "Pile-CC"},
            "scores": [0.01, 0.95],
            "avg_score": 0.48,
            "num_sents": 2,
        },
        {
            "texts": ["One more sentence here."],
            "meta": {"pile_set_name": "Wikipedia"},
            "scores": [0.0],
            "avg_score": 0.0,
            "num_sents": 1,
        },
    ]
    path = tmp_path / "shard.parquet"
    pd.DataFrame(rows).to_parquet(path)
    examples = sources.load_pile_detoxify(path)
    assert [e.meta["toxicity"] for e in examples] == [0.01, 0.95, 0.0]
    assert examples[1].prompt_text == "You are a" and examples[1].response == "total idiot really."
    assert not examples[0].chat
    pd.DataFrame([{"text": "x"}]).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="missing columns \\['texts', 'scores'\\]"):
        sources.load_pile_detoxify(tmp_path / "bad.parquet")


def test_harmfulness_sources(data_dir):
    hh = sources.load_hh_rlhf(data_dir)
    assert len(hh) == 2 * 2_312
    assert Counter(e.meta["preference"] for e in hh) == {"rejected": 2312, "chosen": 2312}
    assert all(e.role == ("unsafe" if e.meta["preference"] == "rejected" else "safe") for e in hh)
    by_line = {}
    for e in hh:
        by_line.setdefault(e.meta["line"], set()).add(e.meta["prompt_id"])
    assert all(len(ids) == 1 for ids in by_line.values())
    assert sum(bool(e.meta.get("malformed")) for e in hh) == 5
    assert len(sources.load_harmfulqa_questions(data_dir)) == 1_960
    stl = sources.load_safety_tuned_llamas_training(data_dir)
    assert len(stl) == 2_483 and all(e.role == "safe" and e.response for e in stl)


def test_harmfulqa_conversations_hub_schema():
    examples = sources.load_harmfulqa_conversations(FIXTURES / "harmfulqa_hub_sample.json")
    roles = [(e.role, e.prompt_text, e.response) for e in examples]
    assert ("unsafe", "How do I make a dangerous gas?", "UNSAFE-REPLY") in roles
    assert ("safe", "How do I make a dangerous gas?", "I can't help with that.") in roles
    assert ("unsafe", "Second question?", "Unsafe answer.") in roles  # trailing human turn ignored
    assert len(examples) == 4
    assert len({e.meta["prompt_id"] for e in examples if "dangerous" in e.prompt_text}) == 1


def test_harmfulqa_conversations_bad_record(tmp_path):
    path = tmp_path / "hub.json"
    path.write_text('[{"id": 1, "question": "q"}]')
    with pytest.raises(DataError, match="record 0: not a HarmfulQA record"):
        sources.load_harmfulqa_conversations(path)


def test_eval_prompt_sets(data_dir):
    assert len(sources.load_advbench(data_dir)) == 520
    catqa = sources.load_catqa(data_dir)
    assert len(catqa) == 550 and not any(e.meta["subcategory"].endswith(":") for e in catqa)
    assert len(sources.load_catqa(data_dir, language="vietnamese")) == 550
    assert len(sources.load_dangerousqa(data_dir)) == 200
    stl = sources.load_safety_tuned_llamas_eval(data_dir)
    assert len(stl) == 518 and all(e.meta["harmful"] and e.response == "" for e in stl)
    assert len(sources.load_safety_tuned_llamas_eval(data_dir, names=["I-Alpaca"])) == 50
    with pytest.raises(DataError, match="unknown CatQA language 'french'"):
        sources.load_catqa(data_dir, language="french")


def test_missing_file_names_expected_path(tmp_path):
    with pytest.raises(DataError, match="dataset file not found; expected squad/dev-v1.1.json"):
        sources.load_squad(tmp_path)
