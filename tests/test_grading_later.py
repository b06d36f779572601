"""The end-to-end grading run of exercises 06 onwards (tests/grading_harness.py): every reference submission gets
exactly its points, feedback hides hidden tests, and export. A module of its own, so that ``--dist loadscope`` runs
it beside the other exercises' runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from grading_harness import (
    PARTS,
    Graded,
    check_export,
    check_feedback,
    check_reference_submission,
    grade_course,
    reference_cases,
    write_feedback,
)

pytestmark = pytest.mark.nbgrader


@pytest.fixture(scope="module")
def graded_later(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    return grade_course(tmp_path_factory, "later")


@pytest.fixture(scope="module")
def feedback_later(graded_later: Graded) -> list[Path]:
    return write_feedback(graded_later)


@pytest.mark.parametrize(("exercise", "name"), reference_cases(PARTS["later"]))
def test_reference_submission_gets_exactly_its_points(graded_later: Graded, exercise: str, name: str) -> None:
    check_reference_submission(graded_later, exercise, name)


def test_feedback_never_shows_hidden_tests_but_keeps_their_messages(
    graded_later: Graded, feedback_later: list[Path]
) -> None:
    check_feedback(graded_later, feedback_later, "later")


def test_export_lists_every_submission_with_its_total(graded_later: Graded) -> None:
    check_export(graded_later)
