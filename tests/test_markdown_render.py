"""Every notebook's Markdown renders as its author meant it, in JupyterLab and in nbgrader's pages.

nbval runs code cells but never looks at Markdown. Two real renderers parse every Markdown cell of
lessons/, solutions/ and exercises/: markdown-it-py (CommonMark with GFM tables, as JupyterLab's
renderer) and mistune (what nbconvert, and so the formgrader's and feedback's HTML, uses). A cell
fails on:

- an indented code block: fenced blocks are how the course shows code, so a block of indented text
  is prose that became preformatted by accident;
- a table that did not come out as one: lines of pipes left in a paragraph;
- a table row with more or fewer cells than its header (renderers pad or drop cells silently).
"""

from __future__ import annotations

import re
from pathlib import Path

import mistune
import nbformat
import pytest
from helpers import REPO
from markdown_it import MarkdownIt

NOTEBOOKS = sorted(
    p
    for folder in ("lessons", "solutions", "exercises")
    for p in (REPO / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
TABLE_LINE = re.compile(r"^\s*\|.*\|\s*$")

jupyterlab_like = MarkdownIt("commonmark").enable("table")
nbconvert_like = mistune.create_markdown(renderer=None, plugins=["table"])


def _cells_of_row(line: str) -> int:
    """Number of cells in a GFM table row (pipes in code spans or escaped do not separate cells)."""
    line = re.sub(r"`[^`]*`", "x", line.replace("\\|", "x")).strip()
    return len(line.strip("|").split("|"))


def problems(markdown: str) -> list[str]:
    """What renders wrongly in one Markdown cell, or nothing."""
    lines = markdown.split("\n")
    found = []
    tokens = jupyterlab_like.parse(markdown)
    for i, token in enumerate(tokens):
        start = token.map[0] + 1 if token.map else "?"
        if token.type == "code_block":
            found.append(f"line {start}: indented text renders as a code block: {lines[token.map[0]].strip()[:60]!r}")
        elif token.type == "paragraph_open":
            text = tokens[i + 1].content.split("\n")
            if sum(bool(TABLE_LINE.match(t)) for t in text) >= 2:
                found.append(f"line {start}: a table renders as a paragraph of pipes: {text[0][:60]!r}")
        elif token.type == "table_open":
            rows = [row for row in lines[token.map[0] : token.map[1]] if row.strip()]
            width = _cells_of_row(rows[0])
            for offset, row in enumerate(rows):
                if _cells_of_row(row) != width:
                    found.append(
                        f"line {token.map[0] + offset + 1}: row has {_cells_of_row(row)} cells, the header {width}"
                    )
    for block in nbconvert_like(markdown):
        if block["type"] == "block_code" and block.get("style") == "indent":
            found.append(f"nbconvert renders indented text as code: {block['raw'].strip()[:60]!r}")
    return found


def test_the_checker_catches_what_it_is_for() -> None:
    good = (
        "# Title\n\nText with `a | b` in code.\n\n| test | points |\n|---|---:|\n| `a` | 2 |\n\n```python\nx = 1\n```\n"
    )
    assert problems(good) == []
    indented = "        # Exercise 1\n\n        Some prose.\n\n        | test | points |\n|---|---:|\n| `a` | 2 |\n"
    found = problems(indented)
    assert any("indented text renders as a code block" in p for p in found), found
    assert any("nbconvert renders indented text" in p for p in found), found
    assert any("paragraph of pipes" in p for p in problems("| test | points |\n| `a` | 2 |\n"))
    assert any("row has 3 cells, the header 2" in p for p in problems("| a | b |\n|---|---|\n| 1 | 2 | 3 |\n"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[str(p.relative_to(REPO)) for p in NOTEBOOKS])
def test_markdown_renders_as_written(notebook: Path) -> None:
    nb = nbformat.read(notebook, as_version=4)
    found = [
        f"cell {index} ({cell.get('id', '?')}), {problem}"
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown"
        for problem in problems(cell.source)
    ]
    assert not found, f"{notebook.relative_to(REPO)}:\n  " + "\n  ".join(found)


def test_every_notebook_is_checked() -> None:
    folders = {p.relative_to(REPO).parts[0] for p in NOTEBOOKS}
    assert folders == {"lessons", "solutions", "exercises"}, folders
    assert sum(p.parts[-3] == "exercises" for p in NOTEBOOKS) == len(list((REPO / "solutions").glob("*/*.ipynb")))
