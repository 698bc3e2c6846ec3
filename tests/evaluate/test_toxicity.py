import pytest

from forgetfilter.errors import ConfigError
from forgetfilter.evaluate.toxicity import first_words, get_scorer, toxicity_summary


def test_first_words_drops_tweet_noise():
    assert first_words("!!! RT @bob: As a woman you should") == "As a woman"
    assert first_words("one two") == "one two"


def test_toxicity_summary_hand_computed():
    assert toxicity_summary([0.1, 0.9, 0.2, 0.6]) == {
        "toxicity_mean": 0.45,
        "toxicity_frac_above_0.5": 0.5,
        "toxicity_n": 4.0,
    }


def test_profanity_scorer_orders_texts():
    score = get_scorer("profanity")
    clean, rude = score(["Have a lovely day, friend.", "shut up you fucking idiot"])
    assert 0.0 <= clean < 0.5 < rude <= 1.0
    assert score([]) == []


def test_unknown_scorer_suggests_a_name():
    with pytest.raises(ConfigError, match="did you mean 'detoxify'"):
        get_scorer("detox")


def test_detoxify_without_checkpoint_says_how_to_get_it(monkeypatch):
    monkeypatch.delenv("FORGETFILTER_DETOXIFY_CHECKPOINT", raising=False)
    with pytest.raises(ConfigError, match="toxic_original-c1212f89.ckpt"):
        get_scorer("detoxify")
