"""Reference submissions given as edits of the solution's cells (tests/submissions/)."""

from __future__ import annotations

from pathlib import Path

import pytest
import submissions

EXERCISE = "06_production_startup"
SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"


def _patch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> submissions.Patch:
    """Load a patch file holding ``body``, expecting full marks (only the sections are under test)."""
    expected = {k: v for k, v in submissions.points(SOLUTION).items() if k not in submissions.written_ids(SOLUTION)}
    (tmp_path / EXERCISE).mkdir(exist_ok=True)
    (tmp_path / EXERCISE / "edit.py").write_text(
        f'"""A test patch."""\n\nEXPECTED = {expected!r}\n\n{body}', encoding="utf-8"
    )
    monkeypatch.setattr(submissions, "HERE", tmp_path)
    return submissions.load(EXERCISE, "edit", SOLUTION)


def _solved(cell_id: str) -> str:
    cell = next(c for c in submissions.cells(SOLUTION) if submissions.grade_id(c) == cell_id)
    return submissions._solution_source("".join(cell["source"]))


def test_an_edit_changes_only_the_lines_it_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line = '        collection.update(ids=retired, metadatas=[{"retired": version}] * len(retired))\n'
    instead = "        collection.delete(ids=retired)\n"
    assert _solved("answer_start").count(line) == 1
    patch = _patch(tmp_path, monkeypatch, f"# %% answer_start\n# replace:\n{line}# with:\n{instead}")
    assert patch.answers["answer_start"] == _solved("answer_start").replace(line, instead).rstrip("\n") + "\n"


def test_an_edit_whose_text_is_not_in_the_solution_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match=r"edit\.py, section answer_start: the text to replace occurs 0 times"):
        _patch(tmp_path, monkeypatch, "# %% answer_start\n# replace:\n    no such line\n# with:\n    pass\n")
    with pytest.raises(ValueError, match=r"has no '# with:' block"):
        _patch(tmp_path, monkeypatch, "# %% answer_open\n# replace:\nimport json\n")
