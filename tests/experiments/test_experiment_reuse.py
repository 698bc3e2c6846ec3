"""``filter_from``: reading an earlier filter run's selection, model-free (the end-to-end run is in
test_experiment_run.py)."""

import json

import pytest

from forgetfilter.config import FilterConfig
from forgetfilter.errors import ConfigError, DataError
from forgetfilter.examples import Example
from forgetfilter.experiments.reuse import copy_reused_filter, load_reused_filter
from forgetfilter.run_dir import OUTPUT_NAMES, fingerprint


def _examples(prefix, n, role):
    return [
        Example(f"{prefix}{i}", ({"role": "user", "content": f"q{i}"},), f"a{i}", "test", role=role) for i in range(n)
    ]


NOISY = [*_examples("u", 3, "unsafe"), *_examples("t", 3, "task")]
SAFE = _examples("s", 2, "safe")


def _folder(tmp_path, rows, config=None):
    folder = tmp_path / "filter"
    folder.mkdir()
    for name in OUTPUT_NAMES:
        (folder / name).write_text("{}\n")
    (folder / "fingerprint.json").write_text(json.dumps(fingerprint(config or FilterConfig(), NOISY, SAFE)))
    (folder / "scores.jsonl").write_text("".join(line + "\n" for line in rows))
    return folder


def _rows(removed=("u0", "u1", "t2")):
    return [json.dumps({"id": ex.id, "removed": ex.id in removed, "forgetting": float(i)}) for i, ex in
            enumerate(reversed(NOISY))]  # fmt: skip


def test_the_selection_follows_d_noisy_order_not_the_file_order(tmp_path):
    selection = load_reused_filter(_folder(tmp_path, _rows()), FilterConfig(), NOISY, SAFE)
    assert selection.mask.tolist() == [True, True, False, False, False, True]
    assert selection.scores.tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    assert selection.quality(NOISY)["recall"] == pytest.approx(2 / 3)


def test_other_settings_are_refused_naming_the_difference(tmp_path):
    folder = _folder(tmp_path, _rows(), FilterConfig(dtype="bfloat16"))
    with pytest.raises(ConfigError, match=r"was run on other data or settings \(dtype: 'bfloat16' -> 'auto'\)"):
        load_reused_filter(folder, FilterConfig(), NOISY, SAFE)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (lambda r: [r[0], "{not json", *r[1:]], r"scores.jsonl, line 2: malformed JSON"),
        (lambda r: [r[0], '{"id": "x"}', *r[1:]], r"scores.jsonl, line 2: record lacks removed, forgetting"),
        (lambda r: r[:-1], r"scores.jsonl has 5 examples for a D_noisy of 6; missing ids: u0"),
    ],
)
def test_a_damaged_scores_file_names_the_file_and_line(tmp_path, rows, message):
    with pytest.raises(DataError, match=message):
        load_reused_filter(_folder(tmp_path, rows(_rows())), FilterConfig(), NOISY, SAFE)


def test_copy_refuses_a_folder_with_another_run(tmp_path):
    source = _folder(tmp_path, _rows())
    dest = tmp_path / "run" / "filter"
    copy_reused_filter(source, dest)
    copy_reused_filter(source, dest)  # the same source again: a resume, nothing to do
    assert (dest / "scores.jsonl").read_bytes() == (source / "scores.jsonl").read_bytes()
    (source / "scores.jsonl").write_text(_rows()[0] + "\n")
    with pytest.raises(ConfigError, match="reuses another filter run"):
        copy_reused_filter(source, dest)
    own = tmp_path / "own" / "filter"
    own.mkdir(parents=True)
    (own / "stages.json").write_text("{}")
    with pytest.raises(ConfigError, match="holds a filter run of its own"):
        copy_reused_filter(source, own)


def test_a_source_decided_with_other_settings_is_refused_naming_them(tmp_path):
    """scores.jsonl's ``removed`` is the source's decision: reading it for a run that asks for another signal or
    cut would be a silently wrong selection."""
    folder = _folder(tmp_path, _rows())
    decided = FilterConfig(signal="nll", threshold_method="otsu")
    (folder / "config.json").write_text(json.dumps(decided.to_dict()))
    with pytest.raises(ConfigError, match=r"signal: 'nll' -> 'log_nll'; threshold_method: 'otsu' -> 'rise'\)"):
        load_reused_filter(folder, FilterConfig(), NOISY, SAFE)
    selection = load_reused_filter(folder, decided, NOISY, SAFE)  # the same decision settings: read as decided
    assert selection.n_removed == 3
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(DataError, match=r"config.json.*not a JSON object of filter settings"):
        load_reused_filter(folder, decided, NOISY, SAFE)
