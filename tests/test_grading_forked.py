"""Every reference submission the real nbgrader path does not grade, scored as nbgrader's autograder
scores it (tests/forked_grading.py), against the points it declares. The solutions, blank releases and
feedback cases are left to tests/test_grading*.py, which grade them with nbgrader against the same declared
points: scoring them here too repeated that check.

Hostile submissions (endless loops, a dying kernel) are left to nbgrader: only its time limits and
restarts can judge them. Graded against the committed releases in exercises/ (tests/test_release.py
checks they are what nbgrader generates from solutions/).
"""

from __future__ import annotations

from pathlib import Path

import forked_grading
import pytest
import submissions
from test_grading import EXERCISES, REPO, through_nbgrader

pytestmark = pytest.mark.nbgrader

CASES = [(e, n) for e in EXERCISES for n in submissions.names(e) if not through_nbgrader(e, n)]


def solution(exercise: str) -> Path:
    return REPO / "solutions" / exercise / f"{exercise}.ipynb"


@pytest.fixture(scope="module")
def forked() -> dict[tuple[str, str], forked_grading.Result]:
    return forked_grading.grade(CASES, REPO / "solutions", REPO / "exercises")


def params() -> list:
    out = []
    for exercise, name in CASES:
        patch = submissions.load(exercise, name, solution(exercise))
        marks = [pytest.mark.xfail(strict=True, reason=patch.known_issue)] if patch.known_issue else []
        out.append(pytest.param(exercise, name, id=f"{exercise}/{name}", marks=marks))
    return out


@pytest.mark.parametrize(("exercise", "name"), params())
def test_reference_submission_gets_exactly_its_points(forked: dict, exercise: str, name: str) -> None:
    result = forked[exercise, name]
    patch = submissions.load(exercise, name, solution(exercise))
    assert result.error is None, result.error
    assert result.points == patch.expected, f"{patch.summary}\nfailures: {result.failures}"
