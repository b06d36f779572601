"""Quizzes: checking answers, feedback, hints, the no-widget fallbacks and progress recording."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import REPO

from persistlab.learning import progress
from persistlab.learning.quiz import HIDDEN_NOTE, Choice, Quiz

WRONG_WHY = "Only the vector store would be missing its text and structure."
RIGHT_WHY = "Each store is written as its own JSON file."
HINT = "Open the persist folder."


@pytest.fixture(autouse=True)
def _progress_in_tmp(progress_path: Path) -> Path:
    """Every quiz here records to a file of its own."""
    return progress_path


def single() -> Quiz:
    return Quiz.single(
        "01_why_persist:q1",
        "What does `persist()` write?",
        [
            Choice("Only the vectors", correct=False, why=WRONG_WHY),
            Choice("Docstore, index store and vector stores", correct=True, why=RIGHT_WHY),
            Choice("Nothing until you call save()", correct=False, why="persist() writes at once."),
        ],
        hint=HINT,
    )


def multiple() -> Quiz:
    return Quiz.multiple(
        "01_why_persist:q2",
        "Which files can a persist folder hold?",
        [
            Choice("docstore.json", correct=True, why="Nodes and their text."),
            Choice("model.bin", correct=False, why="Embedding models are never persisted."),
            Choice("index_store.json", correct=True, why="The index structure."),
        ],
    )


def free() -> Quiz:
    return Quiz.free(
        "01_why_persist:q3",
        "Why must the same embedding model be used after reload?",
        model_answer="Vectors from different models live in different spaces.",
        hint="Think about dimensions.",
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
    assert "Only the vector store" in quiz.feedback_area.value
    assert RIGHT_WHY not in quiz.feedback_area.value
    record = recorded(quiz)
    assert record is not None and record.correct is False and record.attempts == 1


def test_an_option_ending_in_a_full_stop_reads_as_one_sentence():
    quiz = Quiz.single("l1:q9", "Which?", [Choice("It is recorded.", True, "Yes."), Choice("No.", False, "No.")])
    assert "a) It is recorded: right. Yes." in quiz.answer(["a"]).message


def test_right_answer_is_correct_and_replaces_the_earlier_wrong_one():
    quiz = single()
    quiz.answer("a")
    feedback = quiz.answer("B")
    assert feedback.correct is True
    assert RIGHT_WHY in feedback.message
    assert RIGHT_WHY in quiz.feedback_area.value and WRONG_WHY not in quiz.feedback_area.value
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
    assert RIGHT_WHY in quiz.feedback_area.value
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
    assert "Not quite." in quiz.feedback_area.value and recorded(quiz).correct is False
    quiz.options[2].value = True
    quiz.check_button.click()
    assert "Correct." in quiz.feedback_area.value and recorded(quiz).correct is True


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
    assert record is not None and (record.correct, record.attempts) == (None, 1)


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
    one, other = single(), single()
    first, second = one._repr_mimebundle_(), other._repr_mimebundle_()
    assert first["text/plain"] == second["text/plain"]
    assert first["text/html"] == second["text/html"]
    views = [bundle["application/vnd.jupyter.widget-view+json"]["model_id"] for bundle in (first, second)]
    assert views == [one.widget.model_id, other.widget.model_id] and views[0] != views[1]


def test_fallbacks_do_not_change_after_answering():
    quiz = single()
    before = quiz._repr_mimebundle_()
    quiz.answer("b")
    after = quiz._repr_mimebundle_()
    assert (before["text/plain"], before["text/html"]) == (after["text/plain"], after["text/html"])


def test_widget_labels_are_readable_and_nothing_is_preselected():
    quiz = single()
    assert [label for label, _ in quiz.options.options] == [
        "a) Only the vectors",
        "b) Docstore, index store and vector stores",
        "c) Nothing until you call save()",
    ]
    assert quiz.options.index is None  # nothing preselected
    assert [box.description for box in multiple().options] == [
        "a) docstore.json",
        "b) model.bin",
        "c) index_store.json",
    ]
    assert quiz.css_id == "persistlab-quiz-id-01_why_persist-q1"  # the class the browser test looks for


def test_nothing_of_the_answer_is_in_the_widget_before_check():
    for quiz in (single(), multiple(), free()):
        shown = [quiz.feedback_area.value, quiz.hint_area.value, *(label for label in quiz.labels)]
        secrets = [c.why for c in quiz.choices] + [quiz.model_answer or "Vectors from"]
        assert not any(secret in text for secret in secrets for text in shown), quiz.id


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
    {
        "id": "02_reload:q1",
        "type": "single",
        "question": "Which call reloads an index?",
        "choices": [
            {"text": "load_index_from_storage", "correct": True, "why": "It reads the storage context."},
            {"text": "VectorStoreIndex.from_documents", "correct": False, "why": "That embeds everything again."},
        ],
    },
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
        (json.dumps([{**QUESTIONS[0], "type": "one"}]), 'question 1: "type" must be one of'),
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


# --- Quiz.show: the notebook's quiz file ----------------------------------------------------------


def write_quiz_file(folder, stem, questions):
    path = folder / progress.QUIZ_DIR / f"{stem}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(questions), encoding="utf-8")
    return path


def test_show_builds_the_question_from_the_notebooks_quiz_file(tmp_path, monkeypatch):
    write_quiz_file(tmp_path, "02_reload", QUESTIONS)
    monkeypatch.chdir(tmp_path)  # Jupyter runs a notebook in its own folder
    quiz = Quiz.show("02_reload:q1")
    assert (quiz.id, quiz.kind, quiz.question) == ("02_reload:q1", "single", "Which call reloads an index?")
    assert quiz.answer("a").correct is True
    assert recorded(quiz).correct is True
    other = Quiz.show("02_reload:q2", folder=tmp_path)
    assert other.kind == "free" and other.model_answer == "The nodes."


def test_show_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"quizzes/02_reload\.json not found.*quizzes/<notebook stem>\.json"):
        Quiz.show("02_reload:q1", folder=tmp_path)
    write_quiz_file(tmp_path, "02_reload", QUESTIONS)
    with pytest.raises(KeyError, match="no question '02_reload:q9'; it has: 02_reload:q1, 02_reload:q2"):
        Quiz.show("02_reload:q9", folder=tmp_path)
    with pytest.raises(ValueError, match="names no quiz file"):
        Quiz.show("q1", folder=tmp_path)
    write_quiz_file(tmp_path, "03_bad", [{**QUESTIONS[0], "id": "03_bad:q1", "choices": QUESTIONS[0]["choices"][:1]}])
    with pytest.raises(ValueError, match=r"03_bad\.json, question 1: .*between 2 and 26 choices"):
        Quiz.show("03_bad:q1", folder=tmp_path)


# --- the course's own notebooks: answers only in the quiz files -----------------------------------

NOTEBOOKS = sorted(
    [*REPO.glob("lessons/*.ipynb"), *REPO.glob("solutions/*/*.ipynb"), *REPO.glob("exercises/*/*.ipynb")]
)
SHOW = re.compile(r"""\.show\(\s*["']([^"']+)["']""")


def code_cells(notebook):
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [c for c in cells if c["cell_type"] == "code"]


def secrets_of(quiz):
    return [c.why for c in quiz.choices] + ([quiz.model_answer] if quiz.model_answer else [])


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: str(p.relative_to(REPO)))
def test_notebook_shows_each_question_of_its_quiz_file_once_and_holds_no_answer(notebook):
    path = progress.quiz_file(notebook)
    quizzes = Quiz.from_file(path) if path.exists() else []
    shown = [quiz_id for cell in code_cells(notebook) for quiz_id in SHOW.findall("".join(cell["source"]))]
    assert shown == [q.id for q in quizzes], (
        f"{notebook.name}: cells show {shown}, {path.name} has {[q.id for q in quizzes]}"
    )
    for cell in code_cells(notebook):
        source = "".join(cell["source"])
        assert "Choice(" not in source and "correct=" not in source, f"{notebook.name}: a cell defines a quiz inline"
        for quiz in quizzes:
            for secret in secrets_of(quiz):
                assert secret not in source, f"{notebook.name}: a cell's code holds the answer of {quiz.id}"
            if SHOW.findall(source) == [quiz.id]:
                for output in cell.get("outputs", []):
                    text = "".join(output.get("data", {}).get("text/plain", ""))
                    page = "".join(output.get("data", {}).get("text/html", ""))
                    folded = re.sub(r"<details>.*?</details>", "", page, flags=re.S)
                    for secret in secrets_of(quiz):
                        assert secret not in text, f"{notebook.name}: the stored text of {quiz.id} shows an answer"
                        assert _inline_text(secret) not in folded, (
                            f"{notebook.name}: stored HTML of {quiz.id} shows an answer unfolded"
                        )


def _inline_text(text):
    from persistlab.learning.quiz import _inline

    return _inline(text)
