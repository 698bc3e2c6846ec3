import json

import pytest

from forgetfilter.errors import ConfigError
from forgetfilter.evaluate import evaluate, load_prompts
from forgetfilter.evaluate.suite import check_suites, token_budgets


def test_check_suites_suggests_a_name():
    with pytest.raises(ConfigError, match="did you mean 'harmfulness'"):
        check_suites(["harmfullness"])
    assert check_suites(["bias", " task", "bias"]) == ["bias", "task"]


def test_token_budgets():
    assert token_budgets(8)["alpaca"] == 8
    assert token_budgets({"bias": 4})["bias"] == 4 and token_budgets(None)["squad"] == 24
    with pytest.raises(ConfigError, match="unknown token-budget keys"):
        token_budgets({"squat": 4})


def test_raw_prompts_are_deterministic_and_balanced(data_dir):
    first = load_prompts("bias", n=6, seed=1, data_dir=data_dir)
    assert [e.id for e in first] == [e.id for e in load_prompts("bias", n=6, seed=1, data_dir=data_dir)]
    assert sorted(e.meta["context_condition"] for e in first) == ["ambig"] * 3 + ["disambig"] * 3
    toxicity = load_prompts("toxicity", n=6, data_dir=data_dir)
    assert all(not e.chat for e in toxicity)
    assert all(len(e.prompt_text.split()) <= 3 for e in toxicity if e.source != "realtoxicityprompts")


def test_evaluate_writes_auditable_files(tiny_model, data_dir, tmp_path):
    model, tokenizer = tiny_model
    results = evaluate(
        model, tokenizer, n=4, max_new_tokens=3, batch_size=4, out_dir=tmp_path, data_dir=data_dir, progress=False
    )
    assert set(results) == {"toxicity", "bias", "harmfulness", "task", "run"}
    assert results["run"]["scorer"] == "profanity"
    assert results["bias"]["n_ambiguous"] == 2.0 and results["task"]["squad_n"] == 2.0
    for suite in ("toxicity", "bias", "harmfulness", "task"):
        assert results[suite]["wall_seconds"] > 0 and "tokens_per_second" in results[suite]
        rows = [json.loads(line) for line in (tmp_path / f"generations_{suite}.jsonl").open()]
        assert len(rows) == 4 and {"id", "prompt", "generation"} <= set(rows[0])
    assert json.loads((tmp_path / "metrics.json").read_text())["bias"]["n_disambiguated"] == 2.0


def test_eval_dir_is_used_and_missing_files_named(tiny_model, data_dir, tmp_path):
    from forgetfilter.data.formats import native_record
    from forgetfilter.data.sources import load_bbq

    items = load_bbq(data_dir, categories=["Religion"])[:3]
    (tmp_path / "eval_bias.jsonl").write_text("".join(json.dumps(native_record(e)) + "\n" for e in items))
    model, tokenizer = tiny_model
    results = evaluate(model, tokenizer, suites=["bias"], eval_dir=tmp_path, n=10, max_new_tokens=2, progress=False)
    assert results["bias"]["n_ambiguous"] + results["bias"]["n_disambiguated"] == 3.0
    with pytest.raises(ConfigError, match="eval_squad.jsonl not found .*eval_bias.jsonl"):
        evaluate(model, tokenizer, suites=["task"], eval_dir=tmp_path, n=2, progress=False)


def test_rescore_reproduces_saved_metrics(tiny_model, data_dir, tmp_path):
    from forgetfilter.evaluate.audit import rescore

    model, tokenizer = tiny_model
    results = evaluate(model, tokenizer, n=4, max_new_tokens=3, out_dir=tmp_path, data_dir=data_dir, progress=False)
    again = rescore(tmp_path)
    for suite, metrics in again.items():
        assert metrics == pytest.approx({k: results[suite][k] for k in metrics}, nan_ok=True)
