"""The graded exercises: ``exercises/`` is exactly what nbgrader makes from ``solutions/``, it gives
nothing away, and every blank release fails all of its tests.

The nbgrader CLI runs in a temporary copy of the course, so the working tree is never touched.
Tests marked ``nbgrader`` start the real CLI (about 5 s each before any notebook runs).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from helpers import REPO

SOLUTIONS, RELEASE = REPO / "solutions", REPO / "exercises"
ASSIGNMENTS = sorted(p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").is_file())
BLOCKS = {
    "hidden tests": re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S),
    "solution": re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S),
}


def _notebook(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _nbgrader(*args: str, cwd: Path) -> str:
    """Run the nbgrader CLI in ``cwd``; return its output (it exits 0 even when tests fail)."""
    env = dict(
        os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )  # it calls `alembic`
    env["PYTHONUNBUFFERED"] = "1"  # keep results and log lines in the order they happened
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    output = done.stdout
    assert done.returncode == 0, f"nbgrader {' '.join(args)} exited with {done.returncode}:\n{output[-4000:]}"
    return output


def _course_copy(tmp_path: Path, *parts: str) -> Path:
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy2(REPO / "nbgrader_config.py", course)
    for part in parts:
        shutil.copytree(REPO / part, course / part, ignore=shutil.ignore_patterns("storage", ".ipynb_checkpoints"))
    return course


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_assignments_exist() -> None:
    assert ASSIGNMENTS, f"no assignment folders with a notebook of the same name in {SOLUTIONS}"
    assert [p.name for p in sorted(RELEASE.iterdir()) if p.is_dir()] == ASSIGNMENTS, (
        "exercises/ and solutions/ hold different assignments: run `nbgrader generate_assignment <name> --force` from the repo root"
    )


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_gives_nothing_away(name: str) -> None:
    """No hidden test and no solution line reaches the release (unless the visible part has it too)."""
    solution = _notebook(SOLUTIONS / name / f"{name}.ipynb")
    release_text = (RELEASE / name / f"{name}.ipynb").read_text(encoding="utf-8")
    release_lines = {
        line.strip() for cell in _notebook(RELEASE / name / f"{name}.ipynb").cells for line in cell.source.splitlines()
    }
    for marker in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION"):
        assert marker not in release_text, f"exercises/{name} contains {marker!r}"
    visible_lines = set()  # lines the release shows anyway, somewhere
    for cell in solution.cells:
        visible = cell.source
        for pattern in BLOCKS.values():
            visible = pattern.sub("", visible)
        visible_lines |= {line.strip() for line in visible.splitlines()}
    for cell in solution.cells:
        for kind, pattern in BLOCKS.items():
            for block in pattern.findall(cell.source):
                leaked = [
                    line.strip()
                    for line in block.splitlines()
                    if line.strip() and line.strip() not in visible_lines and line.strip() in release_lines
                ]
                assert not leaked, (
                    f"{kind} of cell {cell.metadata['nbgrader']['grade_id']!r} appear in exercises/{name}: {leaked[:3]}"
                )


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_graded_cells_match_the_points_table(name: str) -> None:
    """Every test cell has hidden tests after its visible ones, and the intro's table shows its points."""
    from persistlab.classroom.points import sync

    nb = _notebook(SOLUTIONS / name / f"{name}.ipynb")
    graded = {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}
    tests = {gid: c for gid, c in graded.items() if c.cell_type == "code"}
    assert tests, f"{name} has no test cells"
    for grade_id, cell in tests.items():
        assert cell.metadata["nbgrader"].get("locked"), f"test cell {grade_id!r} is not locked"
        visible, _, hidden = cell.source.partition("### BEGIN HIDDEN TESTS")
        assert visible.strip() and hidden.strip(), f"test cell {grade_id!r} needs visible tests and then hidden ones"
    check = sync(SOLUTIONS / name / f"{name}.ipynb")  # raises if a graded cell has no row
    assert check.up_to_date, (
        f"{name}: the intro's points table is out of date ({check}): run persistlab points {name} --write"
    )
    answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert answers and all(BLOCKS["solution"].search(c.source) for c in answers), (
        f"{name}: an answer cell lacks solution markers"
    )


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_exercise_has_a_written_answer_with_a_hidden_rubric(name: str) -> None:
    """A manually graded Markdown answer: a model answer (solution region) and a rubric (hidden region)."""
    nb = _notebook(SOLUTIONS / name / f"{name}.ipynb")
    written = [c for c in nb.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")]
    assert written, f"{name} has no written answer"
    release = {
        c.metadata.get("nbgrader", {}).get("grade_id"): c for c in _notebook(RELEASE / name / f"{name}.ipynb").cells
    }
    for cell in written:
        meta = cell.metadata["nbgrader"]
        assert meta["solution"] and not meta.get("locked") and meta["points"] > 0, meta
        rubric = BLOCKS["hidden tests"].search(cell.source)
        assert BLOCKS["solution"].search(cell.source) and rubric and "point" in rubric.group(1), meta["grade_id"]
        assert release[meta["grade_id"]].source == "YOUR ANSWER HERE", "the release must show only nbgrader's stub"


def test_points_table_is_rewritten_from_the_cells_and_names_what_is_missing(tmp_path: Path) -> None:
    from persistlab.classroom.points import PointsTableError, sync

    path = tmp_path / "nb.ipynb"
    shutil.copy(SOLUTIONS / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb", path)
    data = json.loads(path.read_text())
    test = next(c for c in data["cells"] if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade"))
    before = sync(path).total[1]
    test["metadata"]["nbgrader"]["points"] += 5
    path.write_text(json.dumps(data))
    check = sync(path)
    assert not check.up_to_date and check.total == (before, before + 5)
    sync(path, write=True)
    assert sync(path).up_to_date and f"| **total** | **{before + 5:g}** |" in "".join(
        json.loads(path.read_text())["cells"][0]["source"]
    )
    data = json.loads(path.read_text())
    data["cells"].append(
        {
            "cell_type": "markdown",
            "id": "x",
            "source": "x",
            "metadata": {
                "nbgrader": {"grade": True, "solution": True, "grade_id": "written_new", "points": 3, "locked": False}
            },
        }
    )
    path.write_text(json.dumps(data))
    with pytest.raises(PointsTableError, match=r"add a row for `written_new` \(3 points\)"):
        sync(path, write=True)


@pytest.mark.nbgrader
def test_release_is_reproducible(tmp_path: Path) -> None:
    """``nbgrader generate_assignment`` from solutions/ gives exactly the committed exercises/."""
    course = _course_copy(tmp_path, "solutions")
    _nbgrader("generate_assignment", "*", "--force", cwd=course)
    made = course / "exercises"
    assert _files(made) == _files(RELEASE), "the generated release has other files than exercises/"
    for relative in _files(RELEASE):
        expected = json.loads((RELEASE / relative).read_text(encoding="utf-8"))
        actual = json.loads((made / relative).read_text(encoding="utf-8"))
        assert actual == expected, (
            f"exercises/{relative} is not what nbgrader makes from solutions/: "
            "run `nbgrader generate_assignment <name> --force` from the repo root and commit the result"
        )


# That every solution passes every test, hidden ones included, and that the blank release fails every test, is
# checked elsewhere: nbval runs solutions/ (any failing test cell is an error), and tests/test_grading*.py grade each
# solution to full marks and each blank release to zero in every test cell, through nbgrader and forked.
