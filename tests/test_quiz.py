"""Quizzes: checking answers, feedback, hints, the no-widget fallbacks and progress recording."""

from __future__ import annotations

import json
import re

import pytest

from persistlab import progress
from persistlab.quiz import HIDDEN_NOTE, Choice, Quiz

WRONG_WHY = "Only the vector store would be missing its text and structure."
RIGHT_WHY = "Each store is written as its own JSON file."
HINT = "Open the persist folder."


@pytest.fixture(autouse=True)
def progress_path(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(path))
    return path


def single() -> Quiz:
    return Quiz.single("01_why_persist:q1", "What does `persist()` write?", [
        Choice("Only the vectors", correct=False, why=WRONG_WHY),
        Choice("Docstore, index store and vector stores", correct=True, why=RIGHT_WHY),
        Choice("Nothing until you call save()", correct=False, why="persist() writes at once."),
    ], hint=HINT)


def multiple() -> Quiz:
    return Quiz.multiple("01_why_persist:q2", "Which files can a persist folder hold?", [
        Choice("docstore.json", correct=True, why="Nodes and their text."),
        Choice("model.bin", correct=False, why="Embedding models are never persisted."),
        Choice("index_store.json", correct=True, why="The index structure."),
    ])


def free() -> Quiz:
    return Quiz.free(
        "01_why_persist:q3", "Why must the same embedding model be used after reload?",
        model_answer="Vectors from different models live in different spaces.", hint="Think about dimensions.",
    )


def recorded(quiz: Quiz) -> progress.QuizRecord | None:
    return progress.load().quizzes.get(quiz.id)


# --- single choice ------------------------------------------------------------------------------


def test_wrong_answer_explains_that_option_and_records_incorrect():
    quiz = single()
    feedback = quiz.answer(["a"])
    assert feedback.correct is False
    assert WRONG_WHY in feedback.message
    assert RIGHT_WHY not in feedback.message
    assert "persistlab-quiz-wrong" in quiz.feedback_area._dom_classes
    assert "Only the vector store" in quiz.feedback_area.value
    record = recorded(quiz)
    assert record is not None and record.correct is False and record.attempts == 1


def test_right_answer_is_correct_and_replaces_the_earlier_wrong_one():
    quiz = single()
    quiz.answer("a")
    feedback = quiz.answer("B")
    assert feedback.correct is True
    assert RIGHT_WHY in feedback.message
    assert "persistlab-quiz-correct" in quiz.feedback_area._dom_classes
    assert "persistlab-quiz-wrong" not in quiz.feedback_area._dom_classes
    record = recorded(quiz)
    assert record is not None and record.correct is True and record.attempts == 2


def test_answer_selects_the_option_in_the_widget():
    quiz = single()
    quiz.answer(["c"])
    assert quiz.options.value == "c"
    assert quiz.options.label == "c) Nothing until you call save()"


def test_check_button_checks_what_is_selected():
    quiz = single()
    quiz.options.value = "b"
    quiz.check_button.click()
    assert "persistlab-quiz-correct" in quiz.feedback_area._dom_classes
    assert recorded(quiz).correct is True


def test_check_without_selection_asks_to_pick_and_records_nothing():
    quiz = single()
    quiz.check_button.click()
    assert "Select an option" in quiz.feedback_area.value
    assert recorded(quiz) is None


def test_single_choice_rejects_two_letters_and_unknown_letters():
    quiz = single()
    with pytest.raises(ValueError, match="pick one option"):
        quiz.answer(["a", "b"])
    with pytest.raises(ValueError, match="the options are a, b, c"):
        quiz.answer("d")
    with pytest.raises(ValueError, match="unknown option"):
        quiz.answer([1])


# --- multiple choice ----------------------------------------------------------------------------


@pytest.mark.parametrize("picked", [["a"], ["a", "b", "c"], ["b"], ["a", "b"]])
def test_multiple_choice_needs_exactly_the_right_set(picked):
    quiz = multiple()
    feedback = quiz.answer(picked)
    assert feedback.correct is False
    assert recorded(quiz).correct is False
    if "b" in picked:
        assert "Embedding models are never persisted." in feedback.message


def test_multiple_choice_exact_set_in_any_order_is_correct():
    quiz = multiple()
    feedback = quiz.answer(["C", "a"])
    assert feedback.correct is True
    assert [box.value for box in quiz.options] == [True, False, True]
    assert recorded(quiz).correct is True


def test_multiple_choice_says_when_a_right_option_is_missing():
    assert "not selected yet" in multiple().answer(["a"]).message
    assert "not selected yet" not in multiple().answer(["a", "b", "c"]).message


def test_multiple_choice_check_button_reads_the_checkboxes():
    quiz = multiple()
    quiz.options[0].value = True
    quiz.check_button.click()
    assert "persistlab-quiz-wrong" in quiz.feedback_area._dom_classes
    quiz.options[2].value = True
    quiz.check_button.click()
    assert "persistlab-quiz-correct" in quiz.feedback_area._dom_classes


# --- free answer --------------------------------------------------------------------------------


def test_hint_button_reveals_the_model_answer_without_recording():
    quiz = free()
    assert quiz.hint_area.value == ""
    assert quiz.hint_button.description == "Show answer hint"
    quiz.hint_button.click()
    assert "Vectors from different models" in quiz.hint_area.value
    assert "Think about dimensions." in quiz.hint_area.value
    assert recorded(quiz) is None


def test_free_answer_is_recorded_as_answered_but_not_judged():
    quiz = free()
    feedback = quiz.answer("The dimensions differ.")
    assert feedback.correct is None
    assert quiz.answer_box.value == "The dimensions differ."
    assert "Vectors from different models" in quiz.hint_area.value
    record = recorded(quiz)
    assert record is not None and record.answered and record.correct is None


def test_empty_free_answer_is_not_recorded():
    quiz = free()
    quiz.check_button.click()
    assert "Write your answer" in quiz.feedback_area.value
    assert recorded(quiz) is None
    with pytest.raises(TypeError, match="answer with text"):
        quiz.answer(["a"])


def test_choice_hint_button_shows_the_hint():
    quiz = single()
    quiz.hint_button.click()
    assert HINT in quiz.hint_area.value
    assert multiple().hint_button is None


# --- display without widgets --------------------------------------------------------------------


@pytest.mark.parametrize("make", [single, multiple, free])
def test_text_fallback_shows_question_and_options_but_no_answer(make):
    quiz = make()
    text = quiz._repr_mimebundle_()["text/plain"]
    assert quiz.question in text
    for letter, choice in zip("abc", quiz.choices):
        assert f"{letter}) {choice.text}" in text
        assert choice.why not in text
    assert HIDDEN_NOTE in text
    if quiz.model_answer:
        assert quiz.model_answer not in text
    assert "model_id" not in text and "VBox" not in text


@pytest.mark.parametrize("make", [single, multiple, free])
def test_html_fallback_folds_answers_into_details(make):
    quiz = make()
    page = quiz._repr_mimebundle_()["text/html"]
    folded = re.findall(r"<details>.*?</details>", page)
    outside = re.sub(r"<details>.*?</details>", "", page)
    secrets = [c.why for c in quiz.choices] + ([quiz.model_answer] if quiz.model_answer else [])
    for secret in secrets:
        assert secret not in outside
        assert any(secret in block for block in folded)
    assert "<summary>Show answer</summary>" in page
    assert "What does <code>persist()</code> write?" in page or quiz.kind != "single"


def test_fallbacks_are_stable_and_bundle_carries_the_widget():
    first, second = single()._repr_mimebundle_(), single()._repr_mimebundle_()
    assert first["text/plain"] == second["text/plain"]
    assert first["text/html"] == second["text/html"]
    assert first["application/vnd.jupyter.widget-view+json"]["model_id"] != second[
        "application/vnd.jupyter.widget-view+json"]["model_id"]


def test_fallbacks_do_not_change_after_answering():
    quiz = single()
    before = quiz._repr_mimebundle_()
    quiz.answer("b")
    after = quiz._repr_mimebundle_()
    assert (before["text/plain"], before["text/html"]) == (after["text/plain"], after["text/html"])


def test_widget_has_the_css_hooks_and_readable_labels():
    quiz = single()
    assert {"persistlab-quiz", "persistlab-quiz-single", "persistlab-quiz-id-01_why_persist-q1"} <= set(
        quiz.widget._dom_classes)
    assert "persistlab-quiz-check" in quiz.check_button._dom_classes
    assert "persistlab-quiz-hint" in quiz.hint_button._dom_classes
    assert "persistlab-quiz-feedback" in quiz.feedback_area._dom_classes
    assert quiz.options._options_labels == (
        "a) Only the vectors", "b) Docstore, index store and vector stores", "c) Nothing until you call save()")
    assert quiz.options.index is None  # nothing preselected
    assert [box.description for box in multiple().options] == [
        "a) docstore.json", "b) model.bin", "c) index_store.json"]


# --- authoring errors ---------------------------------------------------------------------------


def test_authoring_mistakes_are_named():
    two_right = [Choice("x", True, "because"), Choice("y", True, "because")]
    with pytest.raises(ValueError, match="'l1:q1'.*exactly one correct=True"):
        Quiz.single("l1:q1", "Q?", two_right)
    with pytest.raises(ValueError, match="'x' has no why"):
        Quiz.multiple("l1:q2", "Q?", [Choice("x", True), Choice("y", False, "no")])
    with pytest.raises(ValueError, match="not valid"):
        Quiz.free("has space", "Q?", model_answer="A")
    with pytest.raises(ValueError, match="needs model_answer"):
        Quiz.free("l1:q3", "Q?", model_answer=" ")


# --- quiz files ---------------------------------------------------------------------------------


QUESTIONS = [
    {"id": "02_reload:q1", "type": "single", "question": "Which call reloads an index?", "choices": [
        {"text": "load_index_from_storage", "correct": True, "why": "It reads the storage context."},
        {"text": "VectorStoreIndex.from_documents", "correct": False, "why": "That embeds everything again."},
    ]},
    {"id": "02_reload:q2", "type": "free", "question": "What is in the docstore?", "model_answer": "The nodes."},
]


def test_from_file_loads_questions_beside_the_notebook(tmp_path):
    path = tmp_path / "quiz.json"
    path.write_text(json.dumps(QUESTIONS), encoding="utf-8")
    quizzes = Quiz.from_file(path)
    assert [q.id for q in quizzes] == ["02_reload:q1", "02_reload:q2"]
    assert quizzes["02_reload:q1"].answer("b").correct is False
    assert "That embeds everything again." in quizzes[0].feedback_area.value
    bundle = quizzes._repr_mimebundle_()
    assert "Which call reloads an index?" in bundle["text/plain"]
    assert "What is in the docstore?" in bundle["text/plain"]
    assert "The nodes." not in bundle["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    with pytest.raises(KeyError, match="02_reload:q1, 02_reload:q2"):
        quizzes["nope"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{oops", "not valid JSON"),
        ('{"id": "x"}', "JSON list of questions"),
        (json.dumps([QUESTIONS[0], {**QUESTIONS[1], "corect": True}]), "question 2: unknown key.*corect"),
        (json.dumps([{**QUESTIONS[0], "type": "one"}]), "question 1: \"type\" must be one of"),
        (json.dumps([QUESTIONS[0], QUESTIONS[0]]), "repeated: 02_reload:q1"),
    ],
)
def test_from_file_errors_name_the_file_and_question(tmp_path, content, message):
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        Quiz.from_file(path)
    assert "broken.json" in str(err.value)


def test_from_file_missing_file_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="beside the notebook"):
        Quiz.from_file(tmp_path / "missing.json")
