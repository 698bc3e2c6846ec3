"""The noisy-mix builder: exact counts, ratios, determinism, and no overlap between sets."""

from __future__ import annotations

from collections import Counter

import pytest

from forgetfilter.data.formats import read_examples
from forgetfilter.data.manifest import write_mix
from forgetfilter.data.mix import build_mix, mix_counts
from forgetfilter.errors import ConfigError

KINDS = ["bias", "toxicity", "harmfulness", "mixed"]


@pytest.fixture(scope="module")
def mixes(data_dir):
    return {
        (kind, ratio): build_mix(kind, n=600, unsafe_ratio=ratio, data_dir=data_dir)
        for kind in KINDS
        for ratio in (0.5, 0.25)
    }


def test_mix_counts_rounding():
    assert mix_counts(600, 0.5) == {"unsafe": 300, "safe": 100, "squad": 100, "alpaca": 100}
    assert mix_counts(600, 0.25) == {"unsafe": 150, "safe": 150, "squad": 150, "alpaca": 150}
    assert sum(mix_counts(101, 0.33).values()) == 101 and mix_counts(101, 0.33)["safe"] == 23


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ratio", [0.5, 0.25])
def test_exact_counts_and_ratios(mixes, kind, ratio):
    mix = mixes[(kind, ratio)]
    roles = Counter(e.role for e in mix.d_noisy)
    sources = Counter(e.source for e in mix.d_noisy)
    expected = mix_counts(600, ratio)
    assert len(mix.d_noisy) == 600 and roles["unsafe"] == expected["unsafe"] and roles["safe"] == expected["safe"]
    assert sources["squad"] == expected["squad"] and sources["alpaca"] == expected["alpaca"]
    assert len(mix.d_safe) == 300 and all(e.role == "safe" for e in mix.d_safe)
    kinds = {"bias", "toxicity", "harmfulness"} if kind == "mixed" else {kind}
    assert {e.safety_kind for e in mix.d_noisy if e.role != "task"} == kinds
    assert {e.safety_kind for e in mix.d_safe} == kinds
    assert all(e.response.strip() for e in mix.d_noisy + mix.d_safe)
    evals = {name for name in mix.files if name.startswith("eval_")}
    assert evals == {"eval_squad", "eval_alpaca"} | {f"eval_{k}" for k in kinds}
    assert all(len(mix.files[name]) == 200 for name in evals)


@pytest.mark.parametrize("kind", KINDS)
def test_no_overlap(mixes, kind):
    mix = mixes[(kind, 0.5)]
    all_ids = [e.id for examples in mix.files.values() for e in examples]
    assert len(all_ids) == len(set(all_ids))
    texts = [(e.prompt_text, e.response) for examples in mix.files.values() for e in examples if e.response]
    assert len(texts) == len(set(texts))

    def keys(examples, key):
        return {key(e) for e in examples if key(e) is not None}

    def template(e):
        return (e.meta["category"], e.meta["question_index"]) if e.source == "bbq" else None

    def prompt(e):
        return e.meta.get("prompt_id") if e.source == "hh-rlhf" else None

    def title(e):
        return e.meta["title"] if e.source == "squad" else None

    unsafe = [e for e in mix.d_noisy if e.role == "unsafe"]
    safe = [e for e in mix.d_noisy if e.role == "safe"]
    evals = [e for name, ex in mix.files.items() if name.startswith("eval_") for e in ex]
    for key in (template, prompt):
        groups = [keys(unsafe, key), keys(safe, key), keys(mix.d_safe, key), keys(evals, key)]
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                assert not groups[i] & groups[j], (key.__name__, i, j)
    assert not keys(mix.d_noisy, title) & keys(mix.files["eval_squad"], title)


def test_bias_unsafe_is_relabelled_to_biased_answer(mixes):
    mix = mixes[("bias", 0.5)]
    for e in mix.d_noisy:
        if e.role == "unsafe":
            assert e.meta["context_condition"] == "ambig"
            assert e.response == e.meta["answers"][e.meta["stereotyped_index"]]
        elif e.role == "safe":
            assert e.response == e.meta["answers"][e.meta["label"]]
    conditions = Counter(e.meta["context_condition"] for e in mix.files["eval_bias"])
    assert conditions["ambig"] > 0 and conditions["disambig"] > 0


def test_toxicity_thresholds(mixes):
    mix = mixes[("toxicity", 0.5)]
    assert all(e.meta["toxicity"] >= 0.9 for e in mix.d_noisy if e.role == "unsafe")
    assert all(e.meta["toxicity"] <= 0.1 for e in mix.d_noisy + mix.d_safe if e.role == "safe")
    assert all(not e.chat for e in mix.d_noisy if e.role != "task")
    assert Counter(e.source for e in mix.files["eval_toxicity"]) == {
        "hate-speech-offensive": 100,
        "realtoxicityprompts": 100,
    }


def test_write_is_deterministic_and_lossless(tmp_path, data_dir, mixes):
    first = write_mix(mixes[("mixed", 0.5)], tmp_path / "a")
    write_mix(build_mix("mixed", n=600, data_dir=data_dir), tmp_path / "b")
    for name in [*first["files"], "manifest.json"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first["files"]["d_noisy.jsonl"]["by_role"] == {"safe": 100, "task": 200, "unsafe": 300}
    assert first["dropped"]["alpaca: empty response"] == 4
    mix = mixes[("mixed", 0.5)]
    for name, examples in mix.files.items():
        back = read_examples(tmp_path / "a" / f"{name}.jsonl").examples
        assert back == examples
        assert [dict(e.meta) for e in back] == [dict(e.meta) for e in examples]


def test_seed_changes_the_sample(data_dir, mixes):
    other = build_mix("bias", n=600, seed=1, data_dir=data_dir)
    assert {e.id for e in other.d_noisy} != {e.id for e in mixes[("bias", 0.5)].d_noisy}


def test_bad_arguments(data_dir):
    with pytest.raises(ConfigError, match="unknown kind 'toxic'; choose one of .*did you mean 'toxicity'"):
        build_mix("toxic", n=10, data_dir=data_dir)
    with pytest.raises(ConfigError, match="unsafe_ratio must be in \\[0, 1\\], got 1.5"):
        build_mix("bias", n=10, unsafe_ratio=1.5, data_dir=data_dir)
    with pytest.raises(ConfigError, match="asked for 100000 unsafe bias examples but only .* are available"):
        build_mix("bias", n=200_000, data_dir=data_dir)


def test_local_hub_files_are_used(tmp_path, data_dir):
    from pathlib import Path

    import pandas as pd

    rows = [
        {
            "texts": [f"toxic words number {i} here", f"clean words number {i} here"],
            "meta": {"pile_set_name": "Pile-CC"},
            "scores": [0.95, 0.02],
            "avg_score": 0.5,
            "num_sents": 2,
        }
        for i in range(40)
    ]
    pd.DataFrame(rows).to_parquet(tmp_path / "pile.parquet")
    mix = build_mix("toxicity", n=30, n_eval=10, data_dir=data_dir, pile_detoxify=tmp_path / "pile.parquet")
    assert {e.source for e in mix.d_noisy if e.role != "task"} == {"pile-detoxify"}
    hub = Path(__file__).parent / "fixtures" / "harmfulqa_hub_sample.json"
    mix = build_mix("harmfulness", n=600, data_dir=data_dir, harmfulqa_conversations=hub)
    assert len(mix.d_noisy) == 600
