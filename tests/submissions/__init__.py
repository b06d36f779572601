"""Reference submissions for the graded exercises, kept as small patches on the solution.

Each file ``<exercise>/<name>.py`` is one learner's submission: a docstring saying what the
learner got wrong, the points each test cell should get, and the answer cells it changes::

    EXPECTED = {"persist_writes_files": 2, "reload_zero_calls": 0, ...}   # points per test cell
    KNOWN_ISSUE = "..."   # optional: why the exercise's tests do not give these points yet

    # %% answer_load_persisted_index
    def load_persisted_index(persist_dir, embed_model):
        ...

Every ``# %% <grade_id>`` section replaces the source of that answer cell; answer cells a patch does
not name keep the solution's code. A section that starts with ``# replace:`` edits the solution's cell
instead, for a mistake of a line or two in a long cell: each ``# replace:`` block must occur exactly once
in the solution's source and is replaced by the ``# with:`` block after it::

    # %% answer_start
    # replace:
            collection.update(ids=retired, metadatas=[{"retired": version}] * len(retired))
    # with:
            collection.delete(ids=retired)  # retires by deleting
 Written answers (manually graded Markdown cells, ``written_*``)
are answered with the solution's model answer unless a section gives the learner's text; their
expected points are ``None`` (left for the instructor: autograde gives them no score) unless
``EXPECTED`` names them. :func:`build` applies a patch to the released notebook, so the
result is exactly what a learner would hand in. Two submissions need no file: ``solution`` (full
marks) and ``blank`` (the release as handed out, zero).

The files are read, never imported: a section holds a cell's code, which uses names the notebook
defines.
"""

from __future__ import annotations

import ast
import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SECTION = re.compile(r"^# %% (\S+)[ \t]*$", re.M)


@dataclass(frozen=True)
class Patch:
    """One reference submission: its name, what is wrong with it, and the points each test should get."""

    exercise: str
    name: str
    summary: str
    expected: dict[str, float | None]
    """Points per graded cell; ``None`` for a written answer that waits for grading by hand."""
    answers: dict[str, str]
    known_issue: str = ""
    """Set when the exercise's tests do not yet give the expected points (the test is then a strict xfail)."""


def _solution_source(source: str) -> str:
    """An answer cell as a learner who got it right would hand it in: no markers, no rubric."""
    lines, hidden = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
            hidden = "BEGIN" in line
        elif not hidden and "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line:
            lines.append(line)
    return "\n".join(lines)


REPLACE, WITH = "# replace:\n", "# with:\n"


def _edited(source: str, section: str, where: str) -> str:
    """``source`` with each ``# replace:`` block of ``section`` replaced by the ``# with:`` block after it."""
    for edit in section.split(REPLACE)[1:]:
        old, sep, new = edit.partition(WITH)
        if not sep:
            raise ValueError(f"{where}: a '# replace:' block has no '# with:' block after it")
        if source.count(old) != 1:
            raise ValueError(f"{where}: the text to replace occurs {source.count(old)} times in the solution's cell, "
                             f"not once:\n{old}")
        source = source.replace(old, new)
    return source.rstrip("\n") + "\n"


def cells(notebook: Path) -> list[dict[str, Any]]:
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    return nb["cells"]


def grade_id(cell: dict[str, Any]) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def points(solution: Path) -> dict[str, float]:
    """``{test cell id: points}`` of a source notebook, in notebook order."""
    out = {}
    for cell in cells(solution):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            out[meta["grade_id"]] = float(meta["points"])
    return out


def written_ids(solution: Path) -> list[str]:
    """Ids of the written answers (manually graded Markdown answer cells) of a source notebook."""
    return [grade_id(c) for c in cells(solution) if c["cell_type"] == "markdown"
            and c.get("metadata", {}).get("nbgrader", {}).get("solution") and c["metadata"]["nbgrader"].get("grade")]


def answer_ids(solution: Path) -> list[str]:
    """Ids of the answer cells of a source notebook, in order."""
    return [grade_id(c) for c in cells(solution) if c.get("metadata", {}).get("nbgrader", {}).get("solution")]


def load(exercise: str, name: str, solution: Path) -> Patch:
    """Read ``<exercise>/<name>.py`` (or the built-in ``solution`` / ``blank``) against ``solution``."""
    tests = points(solution)
    by_hand: dict[str, float | None] = dict.fromkeys(written_ids(solution))
    if name == "solution":
        return Patch(exercise, name, "The reference solution.", {**tests, **by_hand}, {})
    if name == "blank":
        return Patch(exercise, name, "The release as handed out, nothing answered.", {k: 0.0 for k in tests}, {})
    path = HERE / exercise / f"{name}.py"
    text = path.read_text(encoding="utf-8")
    parts = SECTION.split(text)
    tree = ast.parse(parts[0], filename=str(path))  # the docstring and constants; sections may be snippets
    summary = ast.get_docstring(tree) or ""
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()
    }
    expected = {**by_hand, **constants["EXPECTED"]}
    if set(expected) != set(tests):
        raise ValueError(f"{path}: EXPECTED names {sorted(expected)}, the exercise's tests are {sorted(set(tests) - set(by_hand))}")
    answers = {parts[i]: parts[i + 1].strip("\n") + "\n" for i in range(1, len(parts), 2)}
    unknown = set(answers) - set(answer_ids(solution))
    if not answers or unknown:
        raise ValueError(f"{path}: sections must name answer cells of {exercise}; unknown: {sorted(unknown) or 'none given'}")
    solved = {grade_id(c): _solution_source("".join(c["source"])) for c in cells(solution)}
    for cell_id, section in answers.items():
        if section.startswith(REPLACE):
            answers[cell_id] = _edited(solved[cell_id], section, f"{path}, section {cell_id}")
    return Patch(exercise, name, summary, {k: None if v is None else float(v) for k, v in expected.items()}, answers,
                 constants.get("KNOWN_ISSUE", ""))


def names(exercise: str) -> list[str]:
    """Every submission of an exercise: the built-ins, then the patch files in name order."""
    return ["solution", "blank"] + sorted(p.stem for p in (HERE / exercise).glob("*.py"))


def build(patch: Patch, release: Path, solution: Path) -> dict[str, Any]:
    """The submitted notebook (as JSON data): the release with the patch's answers, others solved."""
    nb = json.loads(Path(release).read_text(encoding="utf-8"))
    if patch.name == "blank":
        return nb
    solved = {grade_id(c): _solution_source("".join(c["source"])) for c in cells(solution)}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            cell["source"] = patch.answers.get(meta["grade_id"], solved[meta["grade_id"]])
    return copy.deepcopy(nb)
