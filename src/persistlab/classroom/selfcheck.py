"""The learner's self-check (``persistlab check``): run an exercise's visible tests and score them as the grader would.

Apart from the instructor's cycle (:mod:`persistlab.classroom.cycle`): it needs no course folder, gradebook
or nbgrader command, only the notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from persistlab.classroom.course import ClassroomError, answer_errors, readable_notebook
from persistlab.classroom.graded_env import GRADING_ENV
from persistlab.maintainers.notebooks import environment


@dataclass
class TestResult:
    """One test cell of a self-check."""

    name: str
    score: float
    max_score: float
    message: str = ""


@dataclass
class SelfCheck:
    """A self-check's tests, and what went wrong in the learner's own cells (syntax errors)."""

    tests: list[TestResult]
    errors: list[str]


def check(notebook: Path, timeout: int = 120) -> SelfCheck:
    """Run an exercise notebook (a copy; the file is not changed) and score its visible tests.

    Cells run in the notebook's folder, offline (:data:`GRADING_ENV`), with the grader's rules: a
    time limit per cell, and a dead kernel stops the run.
    """
    notebook = Path(notebook)
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise ClassroomError(
            f"{notebook} is not a notebook file. Give the path of an exercise, e.g. exercises/01_persist_and_reload/01_persist_and_reload.ipynb."
        )
    problem = readable_notebook(notebook)
    if problem:
        raise ClassroomError(
            f"{notebook}: {problem}. Restore it from the course (git checkout -- {notebook}) and redo your answers."
        )
    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from nbgrader.utils import compute_checksum, determine_grade, is_grade, is_locked

    from persistlab.classroom.preprocessors import RobustExecute

    nb = nbformat.read(notebook, as_version=4)
    tests = [cell for cell in nb.cells if is_grade(cell) and cell.cell_type == "code"]
    if not tests:
        raise ClassroomError(f"{notebook} has no test cells. Check an exercise notebook from exercises/.")
    edited = [
        cell.metadata.nbgrader.get("grade_id", "?")
        for cell in tests
        if is_locked(cell)
        and "checksum" in cell.metadata.nbgrader
        and compute_checksum(cell) != cell.metadata.nbgrader["checksum"]
    ]
    with environment(GRADING_ENV):
        # One notebook, one kernel: a zygote (persistlab.classroom.kernels) would only add its own imports. Stopped at
        # once when done: a graceful exit spends ~1 s tearing down the libraries' objects, and nothing is left to save.
        RobustExecute(
            timeout=timeout,
            record_timing=False,
            shutdown_kernel="immediate",
            kernel_manager_class=AsyncKernelManager,
        ).preprocess(nb, {"metadata": {"path": str(notebook.resolve().parent)}})
    broken = answer_errors(nb.cells)
    results = []
    for cell in tests:
        score, max_score = determine_grade(cell)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        message = f"{errors[0].ename}: {errors[0].evalue}".strip().rstrip(":") if errors else ""
        name = cell.metadata.nbgrader.get("grade_id", "?")
        if name in edited:
            message = ("this test cell was edited; the grader runs the original. " + message).strip()
        if broken and message.startswith("NameError"):  # defined in a cell that did not run
            message = f"{message} (fix the {broken[0].split(':')[0]} above first)"
        results.append(TestResult(name, float(score or 0.0), float(max_score), message))
    return SelfCheck(results, broken)


def record_check(notebook: Path, results: Sequence[TestResult]) -> None:
    """Save a self-check's total in the learner's progress file."""
    from persistlab.learning.progress import record_exercise

    record_exercise(Path(notebook).stem, sum(r.score for r in results), sum(r.max_score for r in results))
