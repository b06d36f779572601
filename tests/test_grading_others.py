"""The end-to-end grading run of every exercise but the first (see tests/test_grading.py, which has the
helpers and the first exercise's run). A module of its own, so ``--dist loadscope`` runs it on another
worker than the first exercise's run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_grading import (
    PARTS,
    REST_TIMEOUT_S,
    Graded,
    _feedback,
    _grade,
    check_export,
    check_feedback,
    check_reference_submission,
    grades,
    nbgrader_names,
    ok,
    persistlab,
    reference_cases,
    student,
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


def test_feedback_never_shows_hidden_tests_but_keeps_their_messages(
    graded_rest: Graded, feedback_rest: list[Path]
) -> None:
    check_feedback(graded_rest, feedback_rest, "rest")


def test_export_lists_every_submission_with_its_total(graded_rest: Graded) -> None:
    check_export(graded_rest)


def test_grading_again_serially_gives_identical_grades(graded_rest: Graded, feedback_rest: list[Path]) -> None:
    """Parallel workers share the gradebook: a serial second run of one wrong answer (part marks) must agree cell
    by cell (after feedback read them), and leave every other grade as it was."""
    graded = graded_rest
    exercise = graded.exercises[0]
    wrong = next(n for n in nbgrader_names(exercise) if n not in ("solution", "blank"))
    refused = persistlab("autograde", exercise, "--student", "nobody", cwd=graded.course)
    assert refused.returncode == 2 and f"No submission of {exercise} by nobody" in refused.stderr, refused
    chosen = [student(wrong)]
    notebooks = {who.name: who / exercise / f"{exercise}.ipynb" for who in (graded.course / "autograded").iterdir()}
    before = {who: path.stat().st_mtime_ns for who, path in notebooks.items() if path.is_file()}
    out = ok(
        persistlab(
            "autograde",
            exercise,
            "--jobs",
            "1",
            "--timeout",
            str(REST_TIMEOUT_S),
            *(f"--student={who}" for who in chosen),
            cwd=graded.course,
        )
    )
    assert "1 submission(s) graded" in out, out
    again = grades(graded.course, graded.exercises)
    assert again == graded.grades
    after = {who: path.stat().st_mtime_ns for who, path in notebooks.items() if path.is_file()}
    assert sorted(who for who in before if after[who] != before[who]) == sorted(chosen)
