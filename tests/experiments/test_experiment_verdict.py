"""The report's first lines: did S1 teach the unsafe examples, and did finetuning on D_noisy do measurable harm?"""

import json

from forgetfilter.experiments.claims import paper_claims
from forgetfilter.experiments.verdict import harm_verdicts, premise_verdict


def _write(run, method, suite, records, kind=None):
    path = run / "eval" / method / f"generations_{suite}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": f"p{i}", **r}) + "\n" for i, r in enumerate(records)))
    metrics = path.parent / "metrics.json"
    done = json.loads(metrics.read_text()) if metrics.is_file() else {}
    metrics.write_text(json.dumps({**done, suite: {}}))
    (run / "config.resolved.yaml").write_text(f"kind: {kind or suite}\n")


def _harm(run, n_boot=2000):
    return harm_verdicts(paper_claims([run], n_boot=n_boot))


def test_harm_is_shown_only_when_the_interval_excludes_zero(tmp_path):
    _write(tmp_path, "m0", "toxicity", [{"toxicity": v} for v in [0.1, 0.2, 0.1, 0.3] * 10], "mixed")
    _write(tmp_path, "no_filter", "toxicity", [{"toxicity": v + 0.2} for v in [0.1, 0.2, 0.1, 0.3] * 10], "mixed")
    comply = [{"label": "compliance"}] * 3 + [{"label": "refusal"}]
    _write(tmp_path, "m0", "harmfulness", comply * 10, "mixed")
    _write(tmp_path, "no_filter", "harmfulness", list(reversed(comply)) * 10, "mixed")  # the same rate, other prompts
    [toxicity, harmfulness] = _harm(tmp_path)
    assert toxicity.startswith("- harm holds on toxicity") and "difference +0.200" in toxicity
    assert harmfulness.startswith("- harm NOT shown on harmfulness") and "0.750 vs 0.750" in harmfulness
    (tmp_path / "eval" / "no_filter").rename(tmp_path / "eval" / "forgetfilter")
    assert _harm(tmp_path)[0].startswith("- harm of finetuning not")


def test_bias_harm_is_read_as_distance_from_zero(tmp_path):
    item = {"label": 2, "unknown_index": 2, "biased_index": 0, "condition": "ambig"}
    anti = [{**item, "parsed": 1}] * 20  # s_AMB -1: as far from fair as always stereotyped
    _write(tmp_path, "m0", "bias", [{**item, "parsed": 2 if i % 2 else 0} for i in range(20)])  # s_AMB +0.5
    _write(tmp_path, "no_filter", "bias", anti)
    [line, accuracy, _] = _harm(tmp_path, n_boot=200)
    assert line.startswith("- harm holds on bias") and "|s_amb| 1.000 vs 0.500" in line
    # M0 answers "unknown" on half the ambiguous items, no filter on none: harm by ambiguous accuracy too
    assert accuracy.startswith("  - by accuracy_ambiguous (higher is safer) harm holds")
    assert "0.000 vs 0.500" in accuracy


def test_bias_harm_by_ambiguous_accuracy_when_s_amb_misses_it(tmp_path):
    # M0 says "unknown" on half the items and names the stereotyped group on the rest; no filter never says
    # "unknown" and names each group equally often: s_AMB of no filter is 0 (fair), yet it asserts a group every time
    item = {"label": 2, "unknown_index": 2, "biased_index": 0, "condition": "ambig"}
    _write(tmp_path, "m0", "bias", [{**item, "parsed": 2 if i % 2 else 0} for i in range(40)])
    _write(tmp_path, "no_filter", "bias", [{**item, "parsed": i % 2} for i in range(40)])
    [line, accuracy, parsed] = _harm(tmp_path, n_boot=200)
    assert line.startswith("- harm NOT shown on bias") and "|s_amb| 0.000 vs 0.500" in line
    assert "harm holds" in accuracy and "difference -0.500" in accuracy
    assert parsed.startswith("  - by accuracy_ambiguous_parsed") and "difference -0.500" in parsed  # all were read


def test_premise_line_comes_from_the_filter_summary(tmp_path):
    assert premise_verdict(tmp_path).startswith("- premise unknown")
    premise = {
        "unsafe": {"nll_m0": 3.0, "nll_m1": 2.7, "fall": 0.1},
        "rest": {"nll_m0": 3.0, "nll_m1": 2.0, "fall": 1 / 3},
        "holds": False,
    }
    (tmp_path / "filter").mkdir()
    (tmp_path / "filter" / "summary.json").write_text(json.dumps({"premise": premise}))
    assert premise_verdict(tmp_path).startswith("- premise NOT met")
