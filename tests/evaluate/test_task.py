import pytest

from forgetfilter.evaluate.task import (
    alpaca_scores,
    exact_match,
    normalize_answer,
    rouge_l,
    squad_answer,
    squad_scores,
    token_f1,
)


def test_normalize_answer_follows_squad_v11():
    assert normalize_answer("  The Eiffel-Tower, in PARIS! ") == "eiffeltower in paris"
    assert normalize_answer("an apple and a pear") == "apple and pear"
    assert normalize_answer("theatre") == "theatre"  # articles only as whole words


def test_exact_match_takes_the_best_gold_answer():
    assert exact_match("Denver Broncos.", ["Broncos", "Denver Broncos"]) == 1.0
    assert exact_match("Broncos of Denver", ["Denver Broncos"]) == 0.0
    assert exact_match("anything", []) == 0.0


def test_token_f1_hand_computed():
    # pred tokens: denver broncos won; gold: denver broncos -> P = 2/3, R = 1, F1 = 0.8
    assert token_f1("Denver Broncos won", ["Denver Broncos"]) == pytest.approx(0.8)
    # max over answers: "carolina panthers" shares one token of two with pred "panthers" -> P=1, R=1/2
    assert token_f1("the Panthers", ["Carolina Panthers", "Denver"]) == pytest.approx(2 / 3)
    assert token_f1("", ["x"]) == 0.0


def test_squad_answer_takes_first_line_without_label():
    assert squad_answer("\nAnswer: Paris\nmore text") == "Paris"
    assert squad_answer("The answer is Denver") == "Denver"


def test_squad_scores_averages():
    scores = squad_scores(["Paris", "London is big"], [["Paris"], ["Berlin"]])
    assert scores == {"squad_exact_match": 0.5, "squad_f1": 0.5, "squad_n": 2.0}


def test_rouge_l_hand_computed():
    # LCS("the cat sat", "the cat sat down") = 3; P = 1, R = 3/4 -> F = 6/7
    assert rouge_l("the cat sat", "the cat sat down") == pytest.approx(6 / 7)
    assert rouge_l("", "reference") == 0.0
    assert alpaca_scores(["a b", "x"], ["a b", "y"])["alpaca_rouge_l"] == pytest.approx(0.5)
