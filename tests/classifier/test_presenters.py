"""The sentences of a prediction's page, in English and in Ukrainian."""

from django.utils import translation

from classifier.models import Prediction
from classifier.presenters import _answer, feedback_said, review_note

ROW = {"label": "dog", "probability": "61.0%", "other": "35.0%", "other_first": False, "unlike_training": False}


@translation.override("en")
def test_a_networks_answer_puts_the_larger_share_first():
    assert _answer(ROW) == "dog, 61.0%; other things 35.0%"
    assert _answer(ROW | {"other_first": True}) == "other things 35.0%; dog, 61.0%"
    assert _answer(ROW | {"other": ""}) == "dog, 61.0%"
    assert _answer(ROW | {"unlike_training": True}).endswith("; unlike its training images")


@translation.override("en")
def test_what_the_owner_said_takes_the_right_article_and_is_translated():
    assert feedback_said("") == ""
    assert feedback_said("automobile") == "You said: it is an automobile."
    assert feedback_said("frog") == "You said: it is a frog."
    assert feedback_said("none") == "You said: none of the ten classes."
    with translation.override("uk"):
        assert feedback_said("frog") != "You said: it is a frog."
        assert "жаб" in feedback_said("frog").lower()


@translation.override("en")
def test_a_cards_review_note_is_staffs_decision_else_what_the_owner_said_awaiting_review():
    assert review_note(Prediction(label="cat")) is None
    assert review_note(Prediction(label="cat", feedback_label="dog")) == {
        "text": "You said: dog — awaiting review",
        "awaiting": True,
    }
    corrected = Prediction(label="cat", feedback_label="dog", review_status="corrected", reviewed_label="dog")
    assert review_note(corrected) == {"text": "Corrected: dog", "awaiting": False}
    assert review_note(Prediction(label="cat", feedback_label="none", review_status="confirmed"))["text"] == "Confirmed"
    with translation.override("uk"):
        assert review_note(Prediction(label="cat", feedback_label="none"))["text"] == (
            "Ви відповіли: жоден із десяти класів — чекає на перевірку"
        )
