"""Learner progress: the JSON file, corrupt-file recovery, atomic writes, the status table, progress bars."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from persistlab.learning import progress


def test_round_trip(progress_path):
    progress.record_quiz("01_why_persist:q1", False)
    progress.record_quiz("01_why_persist:q1", True)
    progress.record_quiz("01_why_persist:q2", None)
    progress.record_exercise("ex01_persist", 3, 4)
    loaded = progress.load()
    assert loaded.quizzes["01_why_persist:q1"].correct is True
    assert loaded.quizzes["01_why_persist:q1"].attempts == 2
    assert (loaded.quizzes["01_why_persist:q2"].correct, loaded.quizzes["01_why_persist:q2"].attempts) == (None, 1)
    assert (loaded.exercises["ex01_persist"].score, loaded.exercises["ex01_persist"].max_score) == (3, 4)
    on_disk = json.loads(progress_path.read_text())
    assert on_disk["quizzes"]["01_why_persist:q1"]["attempts"] == 2
    assert on_disk["version"] == progress.VERSION


def test_missing_file_is_empty_progress(progress_path):
    assert progress.load() == progress.Progress()
    assert not progress_path.exists()


def test_default_file_is_in_the_folder_holding_lessons(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_FILE_ENV, raising=False)
    (tmp_path / "lessons" / "deep").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "lessons" / "deep")
    assert progress.progress_file() == tmp_path.resolve() / ".progress.json"
    progress.record_quiz("q", True)
    assert (tmp_path / ".progress.json").is_file()


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2]",
        '{"version": 1, "quizzes": {"q": {"correct": "yes", "time": "t", "attempts": 1}}}',
        '{"version": 1, "quizzes": {"q": {"correct": true}}}',
        '{"version": 99}',
    ],
)
def test_corrupt_file_is_moved_aside_with_a_warning(progress_path, content):
    progress_path.parent.mkdir()
    progress_path.write_text(content)
    with pytest.warns(UserWarning, match=r"\.progress\.json is not valid.*\.progress\.json\.bak"):
        assert progress.load() == progress.Progress()
    assert not progress_path.exists()
    assert (progress_path.parent / ".progress.json.bak").read_text() == content
    progress.record_quiz("q1", True)  # starts fresh
    assert progress.load().quizzes["q1"].correct is True


def test_recording_over_a_corrupt_file_does_not_raise(progress_path):
    progress_path.parent.mkdir()
    progress_path.write_text("\x00garbage")
    with pytest.warns(UserWarning, match="not valid"):
        progress.record_quiz("q1", False)
    assert progress.load().quizzes["q1"].correct is False


def test_writes_leave_no_temporary_files(progress_path):
    for n in range(5):
        progress.record_quiz(f"q{n}", n % 2 == 0)
    assert os.listdir(progress_path.parent) == [".progress.json"]


def test_failed_write_keeps_the_old_file_and_cleans_up(progress_path, monkeypatch):
    progress.record_quiz("q1", True)
    before = progress_path.read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(progress.os, "replace", broken_replace)
    with pytest.warns(UserWarning, match="Could not save progress.*disk full"):
        progress.record_quiz("q2", True)
    assert progress_path.read_text() == before
    assert os.listdir(progress_path.parent) == [".progress.json"]


def test_bad_arguments_are_rejected(progress_path):
    with pytest.raises(ValueError, match="score"):
        progress.record_exercise("ex01", 5, 4)
    with pytest.raises(ValueError, match="score"):
        progress.record_exercise("ex01", "3", 4)
    with pytest.raises(ValueError, match="notebook stem"):
        progress.record_exercise("", 1, 4)
    with pytest.raises(ValueError, match="True, False or None"):
        progress.record_quiz("q", "yes")
    assert not progress_path.exists()


# --- status table -------------------------------------------------------------------------------


def write_notebook(path, *sources):
    path.parent.mkdir(parents=True, exist_ok=True)
    cells = [
        {
            "cell_type": "code",
            "metadata": {},
            "source": s.splitlines(keepends=True),
            "outputs": [],
            "execution_count": None,
        }
        for s in sources
    ]
    cells.insert(0, {"cell_type": "markdown", "metadata": {}, "source": 'Quiz.show("not:counted")'})
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))


def write_quiz_file(notebook, *ids):
    path = progress.quiz_file(notebook)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps([{"id": quiz_id, "type": "free", "question": "Q?", "model_answer": "A"} for quiz_id in ids])
    )


@pytest.fixture
def course(tmp_path, progress_path):
    lessons = tmp_path / "lessons"
    first = lessons / "01_why_persist.ipynb"
    write_notebook(
        first,
        "from persistlab.learning.quiz import Quiz",
        'Quiz.show("01_why_persist:q1")',
        'Quiz.show("01_why_persist:q2")',
    )
    write_quiz_file(first, "01_why_persist:q1", "01_why_persist:q2")
    second = lessons / "02_reload.ipynb"  # another import name: the ids still come from the quiz file
    write_notebook(
        second, "import persistlab.learning.quiz as q\nfor name in ['q1', 'q2']:\n    q.Quiz.show(f'02_reload:{name}')"
    )
    write_quiz_file(second, "02_reload:q1", "02_reload:q2")
    write_notebook(lessons / "03_intro.ipynb", "print('no quiz here')")
    write_notebook(tmp_path / "exercises" / "ex01_persist" / "ex01_persist.ipynb", "x = 1")
    return tmp_path


def test_quiz_ids_are_read_from_the_quiz_file(course):
    assert progress.quiz_file(course / "lessons" / "01_why_persist.ipynb") == (
        course / "lessons" / "quizzes" / "01_why_persist.json"
    )
    assert progress.quiz_ids(course / "lessons" / "01_why_persist.ipynb") == ["01_why_persist:q1", "01_why_persist:q2"]
    assert progress.quiz_ids(course / "lessons" / "02_reload.ipynb") == ["02_reload:q1", "02_reload:q2"]
    assert progress.quiz_ids(course / "lessons" / "03_intro.ipynb") == []


def test_unreadable_quiz_file_warns_and_counts_nothing(course):
    progress.quiz_file(course / "lessons" / "01_why_persist.ipynb").write_text("[{oops")
    with pytest.warns(UserWarning, match=r"quizzes/01_why_persist\.json.*not counted"):
        assert progress.quiz_ids(course / "lessons" / "01_why_persist.ipynb") == []


def test_the_course_counts_every_quiz_its_lessons_show():
    root = Path(__file__).resolve().parents[1]
    lessons = sorted(root.glob("lessons/*.ipynb"))
    assert len(lessons) >= 10, f"only {len(lessons)} lessons found under {root / 'lessons'}"
    for notebook in lessons:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        shown = sum("".join(c["source"]).count("Quiz.show(") for c in cells if c["cell_type"] == "code")
        assert len(progress.quiz_ids(notebook)) == shown > 0, notebook.name


def test_status_table_without_progress_says_not_started(course):
    rows = progress.status_table(course / "lessons", course / "exercises")
    assert [(r.kind, r.name, r.quizzes, r.answered, r.status) for r in rows] == [
        ("lesson", "01_why_persist", 2, 0, "not started"),
        ("lesson", "02_reload", 2, 0, "not started"),
        ("lesson", "03_intro", 0, 0, "no quiz"),
        ("exercise", "ex01_persist", 0, 0, "not started"),
    ]


def test_status_table_counts_answers_and_scores(course):
    progress.record_quiz("01_why_persist:q1", False)
    progress.record_quiz("01_why_persist:q2", None)
    progress.record_quiz("02_reload:q2", True)
    progress.record_quiz("elsewhere:q9", True)  # not in any notebook: ignored
    progress.record_exercise("ex01_persist", 2.5, 4)
    rows = {r.name: r for r in progress.status_table(course / "lessons", course / "exercises")}
    assert (rows["01_why_persist"].answered, rows["01_why_persist"].correct, rows["01_why_persist"].status) == (
        2,
        0,
        "done",
    )
    assert (rows["02_reload"].answered, rows["02_reload"].correct, rows["02_reload"].status) == (1, 1, "in progress")
    assert (rows["ex01_persist"].self_check, rows["ex01_persist"].status) == ("2.5/4", "done")


def test_show_progress_is_deterministic_text_and_html(course, monkeypatch):
    monkeypatch.chdir(course / "lessons")  # default folders come from the course root
    first, second = progress.show_progress(), progress.show_progress()
    assert repr(first) == repr(second)
    lines = repr(first).splitlines()
    assert lines[0].split() == ["Kind", "Notebook", "Quizzes", "answered", "Correct", "Self-check", "Status"]
    assert lines[1].split() == ["lesson", "01_why_persist", "0/2", "0", "-", "not", "started"]
    assert len(lines) == 5
    page = first._repr_html_()
    assert page.startswith('<table class="persistlab-progress">')
    assert page.count("<tr>") == 5 and "not started" in page


def test_show_progress_with_no_notebooks(tmp_path, progress_path):
    report = progress.show_progress(tmp_path / "none", tmp_path / "none")
    assert repr(report) == "No lessons or exercises found."


# --- progress bar -------------------------------------------------------------------------------


def test_progress_bar_is_off_when_asked(monkeypatch, capsys):
    monkeypatch.setenv(progress.NO_PROGRESS_BAR_ENV, "1")
    bar = progress.progress_bar(range(3), desc="embedding")
    assert bar.disable is True
    assert list(bar) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_progress_bar_env_wins_over_a_terminal(monkeypatch):
    monkeypatch.setattr(progress.sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.delenv(progress.NO_PROGRESS_BAR_ENV, raising=False)
    assert progress._interactive() is True
    monkeypatch.setenv(progress.NO_PROGRESS_BAR_ENV, "1")
    assert progress._interactive() is False
