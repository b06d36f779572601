"""The points table in an exercise's introduction, kept in step with the notebook's graded cells.

Cell 0 of every source notebook in ``solutions/`` has a Markdown table, one row per graded cell
(tests and written answers) and a total::

    | test | points | what it checks |
    |---|---:|---|
    | `persist_writes_files` | 2 | ... |
    | **total** | **9** | |

The points come from each cell's nbgrader metadata (``points``). After changing them, run
``persistlab points --all --write``: it rewrites the numbers and the total and leaves the words
alone. A graded cell with no row, or a row naming no graded cell, is an error that names it: the
row needs words only an author can write.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

ROW = re.compile(r"^\| `(\w+)` \| (\d+(?:\.\d+)?) \|", re.M)
TOTAL = re.compile(r"^\| \*\*total\*\* \| \*\*(\d+(?:\.\d+)?)\*\* \|", re.M)


class PointsTableError(ValueError):
    """The table cannot be brought in step without an author's words; the message says what to add or remove."""


@dataclass(frozen=True)
class TableCheck:
    """What differs between the table in cell 0 and the graded cells' points."""

    path: Path
    changed: dict[str, tuple[float, float]]
    """``{cell id: (points in the table, points in the metadata)}`` where they differ."""
    total: tuple[float, float]
    """The table's total and the sum of the metadata's points."""

    @property
    def up_to_date(self) -> bool:
        return not self.changed and self.total[0] == self.total[1]


def _number(value: float) -> str:
    return f"{value:g}"


def graded_points(cells: list[dict]) -> dict[str, float]:
    """``{grade_id: points}`` of every graded cell (tests and written answers), in notebook order."""
    out = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            out[meta["grade_id"]] = float(meta.get("points", 0))
    return out


def sync(path: Path, write: bool = False) -> TableCheck:
    """Compare the points table of the notebook at ``path`` with its graded cells; with ``write``, fix it.

    Raises :class:`PointsTableError` when a graded cell has no row, a row names no graded cell, or
    there is no table or total row.
    """
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    intro_cell = nb["cells"][0]
    intro = "".join(intro_cell["source"])
    points = graded_points(nb["cells"])
    table = {gid: float(p) for gid, p in ROW.findall(intro)}
    total = TOTAL.search(intro)
    if not table or not total:
        raise PointsTableError(f"{path}: cell 0 has no points table ending in a '| **total** | **N** | |' row.")
    missing, unknown = [g for g in points if g not in table], [g for g in table if g not in points]
    if missing or unknown:
        parts = []
        if missing:
            parts.append("add a row for " + ", ".join(f"`{g}` ({_number(points[g])} points)" for g in missing))
        if unknown:
            parts.append("remove the row for " + ", ".join(f"`{g}`" for g in unknown) + " (no graded cell has that id)")
        raise PointsTableError(
            f"{path}: the points table in cell 0 does not list the graded cells: " + "; ".join(parts) + "."
        )
    check = TableCheck(
        path,
        {g: (table[g], points[g]) for g in points if table[g] != points[g]},
        (float(total.group(1)), sum(points.values())),
    )
    if write and not check.up_to_date:
        intro = ROW.sub(lambda m: f"| `{m.group(1)}` | {_number(points[m.group(1)])} |", intro)
        intro = TOTAL.sub(f"| **total** | **{_number(sum(points.values()))}** |", intro)
        text = intro.split("\n")
        intro_cell["source"] = [line + "\n" for line in text[:-1]] + [text[-1]]
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return check
