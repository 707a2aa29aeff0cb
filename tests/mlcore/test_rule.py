"""The rule that combines the experts: its cases by the image's size, its "none of the ten" clauses, and how
training chooses its weights and thresholds."""

import json

import numpy as np
import pytest

from mlcore.rule import Case, Condition, ExpertScores, Rule, choose_weights, widest_margin_threshold


def test_none_of_the_ten_is_the_first_clause_whose_conditions_all_hold():
    answers = {
        "photo": ExpertScores(np.full((3, 10), 0.01), other=np.array([0.95, 0.7, 0.7])),
        "cifar": ExpertScores(np.full((3, 10), 0.1), unlike_training=np.array([False, True, False])),
    }
    strong = (Condition("photo", "other", 0.9),)
    agreed = (Condition("photo", "other", 0.6), Condition("cifar", "unlike_training"))
    flagged, because = Case("photo", {"photo": 0.5, "cifar": 0.5}, none_if=(strong, agreed)).none_of_the_classes(
        answers
    )
    assert flagged.tolist() == [True, True, False]
    assert because[:2] == [strong, agreed] and because[2] == ()


def test_the_rule_picks_its_case_by_the_shorter_side_and_round_trips_as_data():
    photo = Case("photo", {"a": 0.6, "b": 0.4}, min_short_side=65, tta={"a": "none"})
    rule = Rule((Case("thumbnail", {"a": 1.0}, max_short_side=64), photo))
    assert [rule.case_for(side).name for side in (1, 32, 64, 65, 4000)] == ["thumbnail"] * 3 + ["photo"] * 2
    assert Rule.from_list(json.loads(json.dumps(rule.as_list()))) == rule
    with pytest.raises(ValueError, match="unknown signal"):
        Condition("a", "confidence")


def test_weights_are_chosen_where_the_pool_is_right_most_often():
    labels = np.array([0, 1, 2, 3])
    sure = np.eye(10)[labels] * 0.9 + 0.01  # right about everything
    wrong = np.eye(10)[(labels + 1) % 10] * 0.9 + 0.01  # wrong about everything
    chosen = choose_weights({"good": ExpertScores(sure), "bad": ExpertScores(wrong)}, labels, ("good", "bad"))
    assert chosen["weights"] == {"good": 1.0, "bad": 0.0}
    assert len(chosen["grid"]) == 11 and max(point["right"] for point in chosen["grid"]) == 4


def test_a_threshold_sits_in_the_middle_of_the_widest_gap_within_its_budget():
    inside, outside = np.array([0.1, 0.2, 0.7]), np.array([0.9, 0.95, 0.5])
    strict = widest_margin_threshold(inside, outside, allowed_inside=0)
    assert strict["threshold"] == pytest.approx(0.8) and strict["outside_above"] == 2 and strict["inside_above"] == 0
    loose = widest_margin_threshold(inside, outside, allowed_inside=1)
    assert loose["outside_above"] == 3 and loose["inside_above"] == 1 and 0.2 < loose["threshold"] < 0.5
