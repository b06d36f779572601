"""The course folder (persistlab.classroom.course) and the gradebook helpers, on folders and gradebooks built here (seconds)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from persistlab.classroom.autograde import _notes, _zero
from persistlab.classroom.course import ClassroomError, Course, readable_notebook
from persistlab.classroom.graded_env import KERNEL_DIED, NOT_RUN

NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _course(tmp_path: Path, config: str = "") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n" + config, encoding="utf-8")
    for name in ("ex_b", "ex_a"):
        (tmp_path / "source" / name).mkdir(parents=True)
        (tmp_path / "source" / name / f"{name}.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    (tmp_path / "source" / "not_an_assignment").mkdir()
    return tmp_path


def test_load_reads_folder_names_and_makes_a_relative_database_absolute(tmp_path: Path) -> None:
    root = _course(
        tmp_path,
        'c.CourseDirectory.submitted_directory = "handed_in"\n'
        'c.CourseDirectory.db_url = "sqlite:///grades/gb.db"\nc.CourseDirectory.course_id = "pl"\n',
    )
    course = Course.load(root)
    assert (course.submitted, course.autograded, course.course_id) == ("handed_in", "autograded", "pl")
    assert course.db_url == f"sqlite:///{root.resolve() / 'grades' / 'gb.db'}"
    assert course.gradebook_url().endswith("gb.db?timeout=60")


def test_find_walks_up_and_says_where_to_run_when_there_is_no_course(tmp_path: Path) -> None:
    root = _course(tmp_path / "course")
    (root / "source" / "ex_a" / "deep").mkdir()
    assert Course.find(root / "source" / "ex_a" / "deep").root == root.resolve()
    with pytest.raises(ClassroomError, match="No nbgrader_config.py"):
        Course.find(tmp_path)


def test_unreadable_config_names_the_file(tmp_path: Path) -> None:
    root = _course(tmp_path, "this is not python\n")
    with pytest.raises(ClassroomError, match="Cannot read .*nbgrader_config.py"):
        Course.load(root)


def test_assignments_notebooks_students_and_the_choice_of_assignments(tmp_path: Path) -> None:
    course = Course.load(_course(tmp_path))
    assert course.assignments() == ["ex_a", "ex_b"]
    assert course.notebooks("ex_a") == ["ex_a"]
    (tmp_path / "submitted" / "ada" / "ex_a").mkdir(parents=True)
    (tmp_path / "submitted" / "bob" / "ex_b").mkdir(parents=True)
    assert course.students("ex_a") == ["ada"]
    assert course.chosen([], True, "release") == ["ex_a", "ex_b"]
    assert course.chosen(["ex_b"], False, "feedback", one_or_all=True) == ["ex_b"]
    with pytest.raises(ClassroomError, match="name an assignment or use --all"):
        course.chosen([], False, "release")
    with pytest.raises(ClassroomError, match="No assignment 'ex_c'.*Known assignments: ex_a, ex_b"):
        course.chosen(["ex_c"], False, "release")
    with pytest.raises(ClassroomError, match="one assignment or all"):
        _three(tmp_path / "three").chosen(["ex_a", "ex_b"], False, "autograde", one_or_all=True)


def _three(root: Path) -> Course:
    _course(root)
    (root / "source" / "ex_c").mkdir()
    (root / "source" / "ex_c" / "ex_c.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    return Course.load(root)


def test_readable_notebook_says_why_not(tmp_path: Path) -> None:
    good, cut, old = tmp_path / "good.ipynb", tmp_path / "cut.ipynb", tmp_path / "old.ipynb"
    good.write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    cut.write_text(json.dumps(NOTEBOOK)[:10], encoding="utf-8")
    old.write_text(json.dumps({**NOTEBOOK, "nbformat": 3}), encoding="utf-8")
    assert readable_notebook(good) is None
    assert "cut.ipynb is not a notebook (JSONDecodeError" in (readable_notebook(cut) or "")
    assert readable_notebook(old) == "old.ipynb is not an nbformat 4 notebook"


def _released(course: Course) -> None:
    with course.gradebook() as gb:
        gb.add_assignment("ex_a")
        gb.update_or_create_notebook("ex_a", "ex_a")
        gb.update_or_create_grade_cell("test_one", "ex_a", "ex_a", max_score=3, cell_type="code")
        gb.update_or_create_grade_cell("test_two", "ex_a", "ex_a", max_score=2, cell_type="code")


def test_knows_and_zero_give_every_test_of_a_submission_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )  # nbgrader runs alembic
    course = Course.load(_course(tmp_path))
    assert not course.knows("ex_a")  # no gradebook yet
    _released(course)
    assert course.knows("ex_a") and not course.knows("ex_b")
    _zero(course, "ex_a", "ada")
    with course.gradebook() as gb:
        grades = gb.find_submission_notebook("ex_a", "ex_a", "ada").grades
        assert sorted((g.name, g.auto_score, g.needs_manual_grade) for g in grades) == [
            ("test_one", 0, False),
            ("test_two", 0, False),
        ]
        assert gb.find_submission("ex_a", "ada").max_score == 5


def test_notes_name_dead_kernels_later_cells_and_restored_tests(tmp_path: Path) -> None:
    error = lambda ename: {"output_type": "error", "ename": ename, "evalue": "", "traceback": []}  # noqa: E731
    cells = [
        {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": []},
        {"cell_type": "code", "source": "os._exit(1)", "metadata": {}, "outputs": [error(KERNEL_DIED)]},
        {"cell_type": "code", "source": "y", "metadata": {}, "outputs": [error(NOT_RUN)]},
        {
            "cell_type": "code",
            "source": "# was missing from the submission. It was added back by nbgrader",
            "metadata": {"nbgrader": {"grade_id": "test_one"}},
            "outputs": [error(NOT_RUN)],
        },
    ]
    (tmp_path / "ex_a.ipynb").write_text(json.dumps({**NOTEBOOK, "cells": cells}), encoding="utf-8")
    assert _notes(tmp_path) == ["kernel died in cell 1", "test_one was deleted and restored", "2 later cell(s) not run"]
