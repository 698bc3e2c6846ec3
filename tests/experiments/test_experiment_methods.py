"""Data selection of each method, the self-correction cue, and interleaved slices (no model needed)."""

import json

import numpy as np
import pytest

from forgetfilter.errors import ConfigError
from forgetfilter.examples import Example, user_prompt
from forgetfilter.experiments.config import DataSettings, ExperimentConfig
from forgetfilter.experiments.cues import default_cue, with_cue
from forgetfilter.experiments.inputs import StudyData, prepare_data
from forgetfilter.experiments.interleaved import noisy_slices
from forgetfilter.experiments.methods import (
    METHODS,
    MethodSelection,
    classifier_selection,
    oracle_selection,
    random_selection,
)
from forgetfilter.experiments.runner import select_all

ROLES = ["unsafe", "task", "unsafe", "safe", "task", "unsafe", "safe", "unsafe", "task", "safe"]


def _examples(roles=ROLES):
    return [Example(f"e{i}", user_prompt(f"q{i}"), f"answer {i}", "t", role=r) for i, r in enumerate(roles)]


def test_every_method_evaluates_a_known_model():
    assert set(METHODS) == {
        "m0", "no_filter", "sequential", "replay", "self_correction", "forgetfilter",
        "forgetfilter_self_correction", "classifier_filter", "random_filter", "oracle",
    }  # fmt: skip
    assert METHODS["self_correction"].model == "m1" and METHODS["self_correction"].cue
    assert METHODS["sequential"].model == "m2" and METHODS["no_filter"].model == "m1"


def test_oracle_removes_exactly_the_unsafe_examples():
    selection = oracle_selection(_examples())
    assert selection.mask.tolist() == [r == "unsafe" for r in ROLES]
    assert selection.quality(_examples())["precision"] == 1.0 and selection.quality(_examples())["recall"] == 1.0
    assert [ex.id for ex in selection.kept(_examples())] == ["e1", "e3", "e4", "e6", "e8", "e9"]
    with pytest.raises(ConfigError, match="oracle method needs role labels"):
        oracle_selection([Example("x", user_prompt("q"), "r", "t")])


def test_random_filter_has_the_budget_and_is_seeded():
    first = random_selection(10, 4, seed=3)
    assert first.n_removed == 4
    assert first.mask.tolist() == random_selection(10, 4, seed=3).mask.tolist()
    assert any(random_selection(10, 4, seed=s).mask.tolist() != first.mask.tolist() for s in range(4, 9))
    with pytest.raises(ConfigError, match="between 0 and 10"):
        random_selection(10, 11, seed=0)


def test_classifier_filter_uses_the_scorer_and_keywords():
    examples = _examples()
    seen = []

    def scorer(texts):
        seen.append(list(texts))
        return [0.9 if t.endswith(("0", "2")) else 0.1 for t in texts]

    selection = classifier_selection(examples, scorer, threshold=0.5)
    assert seen == [[ex.response for ex in examples]]  # scored the responses, once, in order
    assert np.flatnonzero(selection.mask).tolist() == [0, 2]
    worded = [
        Example("k1", user_prompt("q"), "How to HACK a phone", "t"),
        Example("k2", user_prompt("q"), "a shackle", "t"),
    ]
    selection = classifier_selection(worded, lambda t: [0.0] * len(t), keywords=["hack"])
    assert selection.mask.tolist() == [True, False] and selection.scores.tolist() == [1.0, 0.0]
    assert selection.quality(worded) == {"n_removed": 1.0}  # no role labels: only the count


def test_random_filter_takes_forgetfilters_budget():
    examples = _examples()
    mask = np.array([True, False, True, False, False, True, False, False, False, False])
    forgetfilter = MethodSelection("forgetfilter", mask, mask.astype(float))
    config = ExperimentConfig(kind="bias", seed=5)
    data = StudyData(examples, examples[:2], {})
    selections = select_all(config, data, forgetfilter, {"forgetfilter", "random_filter", "oracle"})
    assert set(selections) == {"forgetfilter", "random_filter", "oracle"}
    assert selections["random_filter"].n_removed == selections["forgetfilter"].n_removed == 3
    assert selections["oracle"].n_removed == 4


def test_cue_is_prepended_to_chat_and_plain_text_prompts():
    chat = with_cue(Example("c", user_prompt("Who is lazy?", system="sys"), "", "bbq"), "Be fair.")
    assert chat.messages == (
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "Be fair.\nWho is lazy?"},
    )
    plain = with_cue(Example("p", user_prompt("you are so"), "", "rtp", chat=False), default_cue("toxicity"))
    assert plain.prompt_text == default_cue("toxicity") + "\nyou are so" and not plain.chat
    assert all(default_cue(k) in default_cue("mixed") for k in ("bias", "toxicity", "harmfulness"))


def test_noisy_slices_partition_the_data_evenly():
    examples = _examples()
    slices = noisy_slices(examples, 3)
    assert [len(s) for s in slices] == [4, 3, 3]
    assert sorted(ex.id for s in slices for ex in s) == sorted(ex.id for ex in examples)


def test_user_files_are_read_instead_of_building(tmp_path):
    noisy, safe = tmp_path / "noisy.jsonl", tmp_path / "safe.json"
    noisy.write_text(
        "".join(json.dumps({"prompt": f"p{i}", "completion": f"c{i}", "role": "task"}) + "\n" for i in range(3))
    )
    safe.write_text(json.dumps([{"instruction": "hi", "output": "hello"}]))
    config = ExperimentConfig(data=DataSettings(d_noisy=str(noisy), d_safe=str(safe)))
    data = prepare_data(config, tmp_path / "run")
    assert len(data.noisy) == 3 and len(data.safe) == 1 and data.files == {"d_noisy": noisy, "d_safe": safe}
    assert not (tmp_path / "run" / "data").exists()  # nothing was built
