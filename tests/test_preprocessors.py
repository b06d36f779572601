"""The nbgrader preprocessors that need no kernel, one at a time, on notebooks and gradebooks built here.

RobustExecute, which starts kernels, is in test_nbgrader_plugins.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.api import Gradebook

from persistlab.classroom.hidden import GRADER_ONLY, HIDDEN_NOTE
from persistlab.classroom.preprocessors import TRACEBACK_NOTE, HideHiddenTests, NameStudents, ShowRubric

SECRET = "assert stored == 'the grader alone knows this', 'the hidden test says why'"
TEST = f"assert visible() == 1\n### BEGIN HIDDEN TESTS\n{SECRET}\n### END HIDDEN TESTS"
ANSWER = "### BEGIN SOLUTION\nBecause the vectors live on disk.\n### END SOLUTION\n### BEGIN HIDDEN TESTS\nFull marks: names the vectors.\nOne point: says 'disk'.\n### END HIDDEN TESTS"


def _error(traceback: list[str]) -> dict:
    return new_output("error", ename="AssertionError", evalue="the hidden test says why", traceback=traceback)


def _hide(cell: dict) -> dict:
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=[cell]), {})
    return nb.cells[0]


def test_hide_replaces_the_region_and_keeps_a_visible_failures_traceback_without_hidden_lines() -> None:
    cell = new_code_cell(
        TEST,
        outputs=[
            _error(["Cell In[3], line 1\n----> 1 assert visible() == 1\n      3 " + SECRET]),
            new_output("stream", name="stdout", text="fine\n" + SECRET + "\n"),
        ],
    )
    cell = _hide(cell)
    assert cell.source == f"assert visible() == 1\n{HIDDEN_NOTE}"
    error, stream = cell.outputs
    assert "assert visible() == 1" in error.traceback[0] and SECRET not in "".join(error.traceback)
    assert stream.text == "fine\n"


def test_hide_gives_a_hidden_failure_only_its_message() -> None:
    cell = _hide(new_code_cell(TEST, outputs=[_error(["Cell In[3], line 3\n----> 3 " + SECRET])]))
    assert cell.outputs[0].traceback == ["AssertionError: the hidden test says why", TRACEBACK_NOTE]


def test_hide_drops_rubric_cells_and_leaves_other_cells_alone() -> None:
    plain = new_code_cell("x = 1", outputs=[_error(["Cell In[1], line 1\n----> 1 x = 1"])])
    rubric = new_markdown_cell("> Full marks: names the vectors.", metadata={GRADER_ONLY: {"rubric_for": "why"}})
    nb, _ = HideHiddenTests().preprocess(new_notebook(cells=[plain, rubric]), {})
    assert [c.source for c in nb.cells] == ["x = 1"] and nb.cells[0].outputs[0].traceback == plain.outputs[0].traceback


@pytest.fixture()
def gradebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(
        "PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    )  # nbgrader runs alembic
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("ex")
        gb.update_or_create_notebook("ex", "ex")
        gb.update_or_create_grade_cell("why", "ex", "ex", max_score=2, cell_type="markdown")
        gb.update_or_create_solution_cell("why", "ex", "ex")
        gb.update_or_create_source_cell("why", "ex", "ex", source=ANSWER, cell_type="markdown", locked=False)
    return url


def _answer_cell(points: int = 2) -> dict:
    return new_markdown_cell(
        "My answer.", metadata={"nbgrader": {"grade": True, "solution": True, "grade_id": "why", "points": points}}
    )


def test_show_rubric_adds_the_hidden_region_after_the_answer_for_graders(gradebook: str) -> None:
    nb = new_notebook(cells=[new_markdown_cell("# Title"), _answer_cell()])
    nb, _ = ShowRubric().preprocess(nb, {"nbgrader": {"db_url": gradebook, "notebook": "ex", "assignment": "ex"}})
    title, answer, rubric = nb.cells
    assert answer.source == "My answer." and GRADER_ONLY in rubric.metadata
    assert rubric.source.splitlines()[-2:] == ["> Full marks: names the vectors.", "> One point: says 'disk'."]
    assert "`why`, 2 points" in rubric.source and "SOLUTION" not in rubric.source


def test_name_students_uses_the_roster_then_the_id_and_never_renames(gradebook: str, tmp_path: Path) -> None:
    (tmp_path / "students.csv").write_text(
        "id,first_name,last_name,email\nada,Ada,Lovelace,ada@example.org\n", encoding="utf-8"
    )
    with Gradebook(gradebook) as gb:
        for student in ("ada", "bob"):
            gb.add_student(student)
        gb.add_student("cyd", first_name="Cyd", last_name="Named")
    for student in ("ada", "bob", "cyd", "nobody"):
        NameStudents().preprocess(new_notebook(), {"nbgrader": {"db_url": gradebook, "student": student}})
    with Gradebook(gradebook) as gb:
        names = {s.id: (s.first_name, s.last_name, s.email) for s in gb.students}
    assert names == {
        "ada": ("Ada", "Lovelace", "ada@example.org"),
        "bob": ("", "bob", None),
        "cyd": ("Cyd", "Named", None),
    }


def test_grading_kernels_keep_ipykernels_warnings_out_of_the_graders_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Usual kernels (the default) and forked ones alike: ipykernel's "without encryption" warning per kernel."""
    from persistlab.classroom import kernels
    from persistlab.classroom.preprocessors import QUIET_KERNEL, RobustExecute

    for fork in ("0", "1"):
        monkeypatch.setenv(kernels.FORK_KERNELS_ENV, fork)
        assert RobustExecute().extra_arguments == [QUIET_KERNEL]
    assert RobustExecute(extra_arguments=["--debug"]).extra_arguments == ["--debug"]  # an instructor's choice stays
