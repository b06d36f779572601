"""The end-to-end grading run of exercises 02 to 05 (tests/grading_harness.py): every reference submission gets
exactly its points, feedback hides hidden tests, export, and a serial re-grade that agrees with the parallel run.
A module of its own, so that ``--dist loadscope`` runs it beside the other exercises' runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import submissions
from grading_harness import (
    PARTS,
    REST_TIMEOUT_S,
    Graded,
    check_export,
    check_feedback,
    check_reference_submission,
    grade_course,
    grades,
    reference_cases,
    write_feedback,
)
from helpers import ok, persistlab, student

pytestmark = pytest.mark.nbgrader


@pytest.fixture(scope="module")
def graded_others(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    return grade_course(tmp_path_factory, "others")


@pytest.fixture(scope="module")
def feedback_others(graded_others: Graded) -> list[Path]:
    return write_feedback(graded_others)


@pytest.mark.parametrize(("exercise", "name"), reference_cases(PARTS["others"]))
def test_reference_submission_gets_exactly_its_points(graded_others: Graded, exercise: str, name: str) -> None:
    check_reference_submission(graded_others, exercise, name)


def test_feedback_never_shows_hidden_tests_but_keeps_their_messages(
    graded_others: Graded, feedback_others: list[Path]
) -> None:
    check_feedback(graded_others, feedback_others, "others")


def test_export_lists_every_submission_with_its_total(graded_others: Graded) -> None:
    check_export(graded_others)


def test_grading_again_serially_gives_identical_grades(graded_others: Graded, feedback_others: list[Path]) -> None:
    """Parallel workers share the gradebook: a serial second run of one wrong answer (part marks) must agree cell
    by cell (after feedback read them), and leave every other grade as it was."""
    graded = graded_others
    exercise = graded.exercises[0]
    wrong = next(n for n in submissions.names(exercise) if n not in ("solution", "blank"))
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
