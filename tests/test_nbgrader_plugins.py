"""The course's nbgrader preprocessors on their own, without the nbgrader CLI (one kernel for the module).

The end-to-end runs through nbgrader are in test_grading.py (persistlab commands) and
test_plain_nbgrader.py (plain nbgrader, as the formgrader runs it).
"""

from __future__ import annotations

import copy

import nbformat
import pytest
from helpers import FAKE_KEY, REPO
from nbformat.v4 import new_code_cell, new_notebook

from persistlab.classroom.graded_env import graded_code_env
from persistlab.classroom.hidden import BEGIN_HIDDEN, without_hidden_tests
from persistlab.classroom.preprocessors import ANSI, TRACEBACK_NOTE, HideHiddenTests, RobustExecute

PRINT_ENV = (
    "import os\n"
    "print(sorted(k for k in os.environ if k.endswith(('_KEY', '_TOKEN')) or k.startswith('OPENAI')))\n"
    "print(os.environ.get('PERSISTLAB_BACKEND'))"
)
VISIBLE_FAILS = "x = 1\nassert x == 2\n### BEGIN HIDDEN TESTS\nsecret_value = 'only the grader knows this'\nassert secret_value\n### END HIDDEN TESTS"
HIDDEN_FAILS = "x = 1\nassert x == 1\n### BEGIN HIDDEN TESTS\nsecret_value = 'only the grader knows this'\nassert secret_value == 'x', 'the hidden test says why'\n### END HIDDEN TESTS"


def test_graded_code_env_drops_secrets_and_forces_the_simulator() -> None:
    env = graded_code_env(
        {
            "OPENAI_API_KEY": "k",
            "HF_TOKEN": "t",
            "DB_PASSWORD": "p",
            "AWS_ACCESS_KEY_ID": "a",
            "PERSISTLAB_BACKEND": "openai",
            "HOME": "/home/x",
        }
    )
    assert env["HOME"] == "/home/x" and env["PERSISTLAB_BACKEND"] == "simulator"
    assert not {"OPENAI_API_KEY", "HF_TOKEN", "DB_PASSWORD", "AWS_ACCESS_KEY_ID"} & set(env)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> nbformat.NotebookNode:
    """One kernel started by RobustExecute from a process whose environment holds an API key."""
    mp = pytest.MonkeyPatch()
    mp.setenv("OPENAI_API_KEY", FAKE_KEY)
    mp.setenv("GITHUB_TOKEN", FAKE_KEY)
    mp.setenv("PERSISTLAB_BACKEND", "openai")
    nb = new_notebook(cells=[new_code_cell(PRINT_ENV), new_code_cell(VISIBLE_FAILS), new_code_cell(HIDDEN_FAILS)])
    try:
        RobustExecute(timeout=60).preprocess(nb, {"metadata": {"path": str(tmp_path_factory.mktemp("run"))}})
    finally:
        mp.undo()
    return nb


def test_kernels_never_see_the_graders_keys(executed: nbformat.NotebookNode) -> None:
    printed = "".join(o.get("text", "") for o in executed.cells[0].outputs)
    assert printed.splitlines() == ["[]", "simulator"], printed


def _feedback_view(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cell = copy.deepcopy(cell)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "t", "points": 1, "locked": True}
    return HideHiddenTests().preprocess_cell(cell, {}, 0)[0]


def test_a_visible_failure_keeps_its_traceback_without_hidden_lines(executed: nbformat.NotebookNode) -> None:
    cell = _feedback_view(executed.cells[1])
    [error] = [o for o in cell.outputs if o.output_type == "error"]
    shown = ANSI.sub("", "\n".join(error.traceback))
    assert "----> 2 assert x == 2" in shown, (
        shown
    )  # the learner sees which visible check failed, though it has no message
    assert "secret_value" not in shown and BEGIN_HIDDEN not in shown and TRACEBACK_NOTE not in shown
    assert "secret_value" not in cell.source


def test_a_hidden_failure_shows_only_its_message(executed: nbformat.NotebookNode) -> None:
    cell = _feedback_view(executed.cells[2])
    [error] = [o for o in cell.outputs if o.output_type == "error"]
    assert error.traceback == ["AssertionError: the hidden test says why", TRACEBACK_NOTE]


def test_without_hidden_tests_matches_what_nbgrader_releases() -> None:
    """The checksum fix (nbgrader #1961) compares a submitted cell with the source cell as released."""
    from nbgrader.preprocessors import ClearHiddenTests

    checked = 0
    for path in sorted((REPO / "solutions").glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if BEGIN_HIDDEN in cell.source:
                released = ClearHiddenTests().preprocess_cell(copy.deepcopy(cell), {}, 0)[0].source
                assert without_hidden_tests(cell.source) == released
                checked += 1
    assert checked >= 20
