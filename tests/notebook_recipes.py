"""Run the recipes a lesson teaches, from the lesson itself, so tests prove the code learners copy.

A *recipe* is a code cell tagged ``recipe`` in a lesson or solution notebook: the functions the
lesson presents as the way to do something (``persist_atomically``, ``ingest``, ...). Such a cell
holds only imports, function and class definitions and constant assignments, so running it has no
side effect; its functions take the folders and models they work on as arguments (or read module
constants a test may replace).

    ns = recipes(ROOT / "lessons/05_crash_safe_persist.ipynb")
    ns["persist_atomically"](index, tmp_path / "index")

The test then drives the functions through a scripted history (build, restart, edit, add, delete,
change settings, crash) and checks the persisted index after each step.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

RECIPE_TAG = "recipe"
_ALLOWED = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)


def recipe_cells(notebook: Path, tag: str = RECIPE_TAG) -> list[str]:
    """Source of every code cell tagged ``tag``, in notebook order; ValueError if there is none."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    sources = [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in cells
        if c["cell_type"] == "code" and tag in c.get("metadata", {}).get("tags", [])
    ]
    if not sources:
        raise ValueError(f"{notebook} has no code cell tagged {tag!r}: tag the cells that define its recipe.")
    return sources


def _check_pure(source: str, notebook: Path) -> None:
    for node in ast.parse(source).body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if not (isinstance(node, _ALLOWED) or docstring):
            raise ValueError(
                f"{notebook}: a cell tagged {RECIPE_TAG!r} runs a statement at line {node.lineno} "
                f"({type(node).__name__}); keep recipe cells to imports, definitions and constants."
            )


def recipes(notebook: Path, tag: str = RECIPE_TAG, **constants: Any) -> dict[str, Any]:
    """Execute the notebook's recipe cells in one fresh namespace and return it.

    ``constants`` are placed in the namespace first, so a cell may use a name the test provides
    (for example ``STORAGE``) instead of one defined by a non-recipe cell.
    """
    namespace: dict[str, Any] = {"__name__": f"recipes_{Path(notebook).stem}", **constants}
    for number, source in enumerate(recipe_cells(notebook, tag)):
        _check_pure(source, Path(notebook))
        exec(compile(source, f"{notebook}[recipe {number}]", "exec"), namespace)  # noqa: S102 (our own notebooks)
    return namespace


def solution_recipes(notebook: Path, grade_ids: list[str], **constants: Any) -> dict[str, Any]:
    """Execute the code cells of a reference solution named by their nbgrader ``grade_id`` (its setup,
    definitions and answers), in notebook order, in one fresh namespace; ValueError naming any id not found."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    chosen = {
        c["metadata"].get("nbgrader", {}).get("grade_id"): "".join(c["source"])
        for c in cells
        if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("grade_id") in grade_ids
    }
    if missing := [g for g in grade_ids if g not in chosen]:
        raise ValueError(f"{notebook} has no code cell with nbgrader grade_id {missing}")
    namespace: dict[str, Any] = {"__name__": f"solution_{Path(notebook).stem}", **constants}
    for grade_id, source in chosen.items():
        exec(compile(source, f"{notebook}[{grade_id}]", "exec"), namespace)  # noqa: S102 (our own notebooks)
    return namespace
