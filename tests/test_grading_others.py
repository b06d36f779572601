"""The end-to-end grading run of every exercise but the first (see tests/test_grading.py, which has the
helpers and the first exercise's run). A module of its own, so ``--dist loadscope`` runs it on another
worker than the first exercise's run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_grading import (
    PARTS, TIMEOUT_S, Graded, _feedback, _grade, check_export, check_feedback, check_reference_submission, grades,
    nbgrader_names, ok, persistlab, reference_cases,
)

pytestmark = pytest.mark.nbgrader


@pytest.fixture(scope="module")
def graded_rest(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    if not PARTS["rest"]:
        pytest.skip("the course has a single exercise")
    return _grade(tmp_path_factory, "rest")


@pytest.fixture(scope="module")
def feedback_rest(graded_rest: Graded) -> list[Path]:
    return _feedback(graded_rest)


@pytest.mark.parametrize(("exercise", "name"), reference_cases(PARTS["rest"]))
def test_reference_submission_gets_exactly_its_points(graded_rest: Graded, exercise: str, name: str) -> None:
    check_reference_submission(graded_rest, exercise, name)


def test_feedback_never_shows_hidden_tests_but_keeps_their_messages(graded_rest: Graded, feedback_rest: list[Path]) -> None:
    check_feedback(graded_rest, feedback_rest, "rest")


def test_export_lists_every_submission_with_its_total(graded_rest: Graded) -> None:
    check_export(graded_rest)


def test_grading_again_serially_gives_identical_grades(graded_rest: Graded, feedback_rest: list[Path]) -> None:
    """Parallel workers share the gradebook: a serial second run must agree cell by cell (after feedback read them)."""
    graded = graded_rest
    exercise = min(graded.exercises, key=lambda e: len(nbgrader_names(e)))  # the quickest to regrade
    ok(persistlab("autograde", exercise, "--jobs", "1", "--timeout", str(TIMEOUT_S), cwd=graded.course))
    again = grades(graded.course, graded.exercises)
    first = {k: v for k, v in graded.grades.items() if k[0] == exercise}
    assert first and {k: again[k] for k in first} == first
