"""The nbgrader preprocessors that make grading robust and keep hidden tests hidden.

:func:`persistlab.classroom.nbgrader_config.configure` names them in an nbgrader config, so nbgrader imports this
module (and nbgrader with it) only in the processes that grade or write feedback. What they change:

- :class:`RobustExecute` replaces nbgrader's ``Execute``: a kernel that dies (``os._exit``, a
  crash, out of memory) or a cell that ignores the timeout interrupt no longer fails the whole
  submission. That cell gets an error output saying what happened, later cells are marked as not
  run (so their tests score zero), and everything before keeps its points.
- :class:`RestoreDeletedTests` replaces ``OverwriteCells``: test cells a learner deleted are put back
  from the gradebook (nbgrader already restores edited ones; its own ``add_missing_cells`` crashes
  when the cell before a deleted test is a locked markdown cell).
- :class:`ShowRubric` adds the rubric of each written answer (kept in the source as a hidden-test
  region of the answer cell) after it in the autograded notebook, for the formgrader.
- :class:`HideHiddenTests` runs last in ``generate_feedback`` and drops those rubric cells: the feedback HTML shows
  ``# (hidden tests are not shown)`` instead of the hidden test source, and a failing hidden test
  shows only its message (``AssertionError: ...``), not a traceback quoting the hidden lines.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_markdown_cell
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, OverwriteCells
from nbgrader.utils import compute_checksum, is_grade, is_locked, is_solution

from persistlab.classroom.course import ROSTER_FILE
from persistlab.classroom.graded_env import KERNEL_DIED, NOT_RUN, STUCK, graded_code_env
from persistlab.classroom.hidden import BEGIN_HIDDEN, END_HIDDEN, GRADER_ONLY, strip_hidden_tests, without_hidden_tests

TRACEBACK_NOTE = "(The traceback is not shown because this test cell contains hidden tests.)"


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


QUIET_KERNEL = "--IPKernelApp.log_level=ERROR"
"""Kernel option that keeps ipykernel's warnings (loopback TCP without encryption) out of the grader's output."""


class RobustExecute(Execute):
    """nbgrader's ``Execute``, but a dead or stuck kernel costs only the cells it could not run.

    nbgrader's own behaviour is to abandon the submission (no autograded notebook, no grades, no
    feedback). Here the offending cell gets an error output naming the cause and each later code
    cell an error output ``NotRun``, so nbgrader scores them zero and grades the rest as usual.
    """

    _stopped: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Kernels forked from a process that imported the libraries once (persistlab.classroom.kernels), unless
        # PERSISTLAB_FORK_KERNELS=0. nbgrader's Execute would set AsyncKernelManager.
        from persistlab.classroom.kernels import ForkingKernelManager, forking_enabled

        if forking_enabled():
            kwargs.setdefault("kernel_manager_class", ForkingKernelManager)
        super().__init__(*args, **kwargs)
        if not self.extra_arguments:  # type: ignore[has-type]  # (nbclient trait) no TCP warning per kernel
            self.extra_arguments = [QUIET_KERNEL]

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        """Start the kernel in :func:`~persistlab.classroom.graded_env.graded_code_env`: no keys, the offline simulator.

        This is what keeps the grader's secrets from graded code whichever process grades: ``persistlab
        autograde``, plain ``nbgrader autograde`` or the formgrader inside the Jupyter server.
        """
        kwargs["env"] = graded_code_env(kwargs.get("env"))
        await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)  # nbclient binds the sync twin to its own coroutine

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> tuple[NotebookNode, Any]:
        self._stopped = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> tuple[NotebookNode, Any]:
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped is not None:
            cell.outputs = [_error(NOT_RUN, f"This cell was not run: {self._stopped}.")]
            cell.execution_count = None
            return cell, self.resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._give_up(
                cell,
                index,
                f"the Python kernel died in cell {index}",
                KERNEL_DIED,
                "The Python kernel died while running this cell (os._exit(), a crash or too much memory).",
            )
        except CellTimeoutError:
            self._give_up(
                cell,
                index,
                f"cell {index} was still running after the time limit",
                STUCK,
                f"This cell was still running after {self.timeout} s and did not stop when interrupted.",
            )
        return cell, self.resources

    def _give_up(self, cell: NotebookNode, index: int, why: str, ename: str, message: str) -> None:
        """Give ``cell`` the error ``ename`` and mark every later cell as not run, because of ``why``."""
        self.log.warning("Cell %d: %s; the cells after it are marked as not run", index, why)
        self._stopped = why
        cell.outputs.append(_error(ename, f"{message} The cells after it were not run."))


class RestoreDeletedTests(OverwriteCells):
    """nbgrader's ``OverwriteCells`` with ``add_missing_cells`` on, placing each deleted test cell
    after the nearest cell before it (in the source notebook) that the submission still has.

    nbgrader 0.9.6 looks only at answer and test cells for that anchor and raises ``KeyError`` when
    the cell before the deleted test is any other locked cell, such as a markdown heading.
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        """Put back the hidden tests of a test cell the learner left as released, without nbgrader's
        warning that its checksum changed (nbgrader issue #1961: the gradebook's checksum includes the
        hidden tests, the release's cell does not). Edited cells still get the warning and the source."""
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id and is_locked(cell):
            try:
                source = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source = None
            if source is not None and source.locked and cell.source == without_hidden_tests(source.source):
                cell.source = source.source
            return super().preprocess_cell(cell, resources, index)
        cell, resources = super().preprocess_cell(cell, resources, index)
        if grade_id and is_solution(cell) and is_grade(cell) and "grade_id" in cell.metadata.nbgrader:
            # A written answer left as released ("YOUR ANSWER HERE") is blank: nbgrader scores it zero
            # only if its checksum is the release's, not the gradebook's (which includes the rubric).
            source = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            if BEGIN_HIDDEN in source.source and cell.source == without_hidden_tests(source.source):
                cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
        return cell, resources

    def add_missing_grade_cells(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        source = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source.source_cells]
        by_name = {cell.name: cell for cell in source.source_cells}
        solution_ids = {cell.name for cell in source.solution_cells}
        for grade_cell in source.grade_cells:
            present = {cell.metadata.get("nbgrader", {}).get("grade_id"): i for i, cell in enumerate(nb.cells)}
            if grade_cell.name in present:
                continue
            self.log.warning("Test cell %s was deleted; putting it back", grade_cell.name)
            before = order[: order.index(grade_cell.name)]
            anchor = next((present[name] for name in reversed(before) if name in present), -1)
            restored = self.missing_cell_transform(
                by_name[grade_cell.name], grade_cell.max_score, is_solution=grade_cell.name in solution_ids
            )
            nb.cells.insert(anchor + 1, restored)
        return nb, resources


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
ARROW = re.compile(r"^-*>\s*\d+\s?(.*)$")


def _failing_line(traceback: list[str]) -> str | None:
    """The source line of the test cell itself that raised (the arrow in the cell's frame), if found."""
    for entry in traceback:
        plain = ANSI.sub("", entry)
        if plain.lstrip().startswith(("Cell In[", "Input In [")):
            for line in plain.split("\n"):
                if match := ARROW.match(line.strip()):
                    return match.group(1).strip()
            return None
    return None


class ShowRubric(NbGraderPreprocessor):
    """After each written answer (a manually graded answer cell) of an autograded notebook, a read-only
    cell with its rubric for whoever grades it in the formgrader.

    The rubric is the hidden-test region of the answer cell in the source notebook: nbgrader keeps
    it in the gradebook and removes it from the release. :class:`HideHiddenTests` drops these cells
    from feedback.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        info = resources["nbgrader"]
        cells = []
        with Gradebook(info["db_url"]) as gb:
            for cell in nb.cells:
                cells.append(cell)
                meta = cell.metadata.get("nbgrader", {})
                if not (is_solution(cell) and is_grade(cell) and meta.get("grade_id")):
                    continue
                try:
                    source = gb.find_source_cell(meta["grade_id"], info["notebook"], info["assignment"]).source
                except MissingEntry:
                    continue
                rubric = [
                    line
                    for line in strip_hidden_tests(source)[1]
                    if BEGIN_HIDDEN not in line and END_HIDDEN not in line
                ]
                if rubric:
                    text = f"**For the grader** (not in the learner's feedback): `{meta['grade_id']}`, {meta.get('points', 0):g} points\n\n"
                    cells.append(
                        new_markdown_cell(
                            text + "\n".join(f"> {line}".rstrip() for line in rubric),
                            id=f"grader-{meta['grade_id']}"[:64].replace("_", "-"),
                            metadata={
                                GRADER_ONLY: {"rubric_for": meta["grade_id"]},
                                "deletable": False,
                                "editable": False,
                            },
                        )
                    )
        nb.cells = cells
        return nb, resources


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden test source from notebooks on their way to feedback HTML (nbgrader issue #917).

    In each cell holding a hidden-test region: the region becomes one note line; text outputs lose
    any line that repeats a hidden source line. An error raised by a visible line keeps its
    traceback (the learner sees where, even for a bare ``assert`` or ``NotImplementedError()``), minus
    any line quoting hidden source; an error raised by a hidden line keeps only its name and message.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        nb.cells = [cell for cell in nb.cells if GRADER_ONLY not in cell.metadata]  # rubrics (ShowRubric)
        return super().preprocess(nb, resources)

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        if BEGIN_HIDDEN not in cell.source:
            return cell, resources
        cell.source, removed = strip_hidden_tests(cell.source)
        secret = {line.strip() for line in removed if len(line.strip()) >= 8}
        hidden_markers = (BEGIN_HIDDEN, END_HIDDEN)
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                failing = _failing_line(output.get("traceback", []))
                if failing and failing not in secret and failing in cell.source:
                    output.traceback = [
                        "\n".join(
                            line
                            for line in entry.split("\n")
                            if not any(s in ANSI.sub("", line) for s in (*secret, *hidden_markers))
                        )
                        for entry in output.traceback
                    ]
                else:
                    output.traceback = [f"{output.ename}: {output.evalue}", TRACEBACK_NOTE]
            elif output.output_type == "stream":
                output.text = "".join(
                    line for line in output.text.splitlines(keepends=True) if not any(s in line for s in secret)
                )
        return cell, resources


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
QUIZ_NOTE = "(A quiz: open the notebook in Jupyter to answer it.)"
FEEDBACK_CSS = """
.rendered_html table { border-collapse: collapse; margin: 0.5em 0; }
.rendered_html th, .rendered_html td { border: 1px solid #c8c8c8; padding: 0.3em 0.7em; vertical-align: top; }
.rendered_html tbody tr:nth-child(odd) { background: #f7f7f7; }
div.output_area pre, div.output_subarea { white-space: pre-wrap; overflow-wrap: anywhere; max-width: 100%; }
"""
"""Table columns with borders and padding; long failure messages wrap instead of running off the page."""


class ReadableFeedback(NbGraderPreprocessor):
    """Make feedback pages readable: :data:`FEEDBACK_CSS` on the page, and each widget (a quiz) shown as a short
    note instead of an empty ``Out[n]:`` (a static page cannot draw widgets)."""

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        resources.setdefault("inlining", {}).setdefault("css", []).append(FEEDBACK_CSS)
        return super().preprocess(nb, resources)

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        outputs = cell.get("outputs", [])
        if any(WIDGET_VIEW in output.get("data", {}) for output in outputs):
            cell.outputs = [o for o in outputs if WIDGET_VIEW not in o.get("data", {})]
            cell.outputs.append(NotebookNode(output_type="stream", name="stdout", text=QUIZ_NOTE + "\n"))
        return cell, resources


class NameStudents(NbGraderPreprocessor):
    """Give a student nbgrader created without a name (autograde, collect) the name from the course's
    roster (:data:`~persistlab.classroom.course.ROSTER_FILE`, nbgrader's import format ``id,first_name,last_name,email``)
    or else their id, so the formgrader lists ``lovelaceada`` instead of ``None, None``.

    Runs first among autograde's sanitize steps; names already in the gradebook are never changed.
    """

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> tuple[NotebookNode, ResourcesDict]:
        info = resources["nbgrader"]
        student_id = info["student"]
        roster = _roster(Path(os.getcwd()) / ROSTER_FILE)
        with Gradebook(info["db_url"]) as gb:
            try:
                student = gb.find_student(student_id)
            except MissingEntry:
                return nb, resources
            if student.last_name is None and student.first_name is None:
                person = roster.get(student_id, {})
                gb.update_or_create_student(
                    student_id,
                    last_name=person.get("last_name") or student_id,
                    first_name=person.get("first_name") or "",
                    **({"email": person["email"]} if person.get("email") else {}),
                )
        return nb, resources


def _roster(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {row["id"]: row for row in csv.DictReader(f) if row.get("id")}
