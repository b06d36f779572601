"""The curriculum's promises about lessons 01-12 (issue 26), read from the notebooks without running them.

- **names**: a function name means one thing in the whole course. Every ``def`` in a lesson's code cells (top-level
  and nested, compared by ``ast.unparse(def.args)``) has the signature of the first definition of that name in this
  or an earlier lesson; a later lesson that needs another signature renames its own function.
- **imports**: what a lesson shows is what a learner ships. Only its proof cell may import the grading helpers
  (``persistlab.grading`` and its submodules) or the benchmark helpers (``persistlab.stores.bench*``).
- **proof_cell**: at most one code cell tagged ``proof``, collapsed (``jupyter.source_hidden``), its first line
  ``# Proof: <what it checks>``.
- **limits**: prose words (``len(text.split())`` over the markdown cells) and code lines (non-blank lines of the
  code cells, the proof cell left out) within ``MAX_WORDS`` and ``MAX_CODE_LINES``.
- **parts**: the seven parts as level-2 headings, in order, first; the quiz last (after its heading, no other
  level-1 or level-2 heading and only cells that show quizzes).

Lesson 00 (the start page) is exempt. ``NEEDS_A_SPLIT`` lists the cases that only splitting a lesson can fix:
strict xfails, so the split must also empty it.
"""

from __future__ import annotations

import ast
import json
import re
from functools import cache
from pathlib import Path

import pytest
from helpers import REPO

NEEDS_A_SPLIT: set[tuple[str, str]] = set()
"""(lesson number, check) that cannot pass without splitting a lesson. Empty since lesson 05's versions behind a
pointer moved to lesson 10 (issue 26)."""

LESSONS = sorted(p for p in (REPO / "lessons").glob("[0-9][0-9]_*.ipynb") if not p.name.startswith("00_"))
CHECKS = ("names", "imports", "proof_cell", "limits", "parts")
MAX_WORDS = 1_450
MAX_CODE_LINES = 150
PROOF_TAG = "proof"
PROOF_FIRST_LINE = "# Proof:"
PROOF_LINE_WIDTH = 95
"""What a collapsed cell shows of its first line in JupyterLab at 1,200 px (a learner trial saw longer ones cut)."""
PROOF_ONLY_MODULES = ("persistlab.grading", "persistlab.stores.bench")
"""Module prefixes only a proof cell may import (``bench`` also covers ``bench_report`` and ``bench_adapters``)."""
SECTIONS = (
    "Why this matters",
    "Explanation",
    "Analogy",
    "Code",
    "Common gotcha",
    "Error recovery",
    "Check your understanding",
)
"""The seven parts every lesson has, as level-2 headings, in this order."""


@cache
def cells(lesson: Path) -> list[dict]:
    """The notebook's cells, each with its source as one string."""
    out = json.loads(lesson.read_text(encoding="utf-8"))["cells"]
    return [{**c, "source": "".join(c["source"]) if isinstance(c["source"], list) else c["source"]} for c in out]


def is_proof(cell: dict) -> bool:
    return PROOF_TAG in cell.get("metadata", {}).get("tags", [])


def code_cells(lesson: Path) -> list[dict]:
    return [c for c in cells(lesson) if c["cell_type"] == "code"]


def parse(source: str) -> ast.Module:
    """A code cell as Python, IPython's ``%magic`` and ``!shell`` lines blanked out."""
    return ast.parse(re.sub(r"(?m)^\s*[%!].*$", "", source))


@cache
def definitions(lesson: Path) -> list[tuple[str, str]]:
    """(name, signature) of every def in the lesson's code cells, in notebook order."""
    found = []
    for cell in code_cells(lesson):
        for node in ast.walk(parse(cell["source"])):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((node.name, ast.unparse(node.args)))
    return found


def imported_modules(source: str) -> set[str]:
    """Every module a cell imports, with ``from a import b`` counted as both ``a`` and ``a.b``."""
    modules = set()
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return modules


def check_names(lesson: Path) -> list[str]:
    first: dict[str, tuple[str, str]] = {}
    for earlier in LESSONS[: LESSONS.index(lesson)]:
        for name, signature in definitions(earlier):
            first.setdefault(name, (earlier.stem, signature))
    problems = []
    for name, signature in definitions(lesson):
        where, before = first.setdefault(name, (lesson.stem, signature))
        if signature != before:
            problems.append(f"{name}({signature}) here, {name}({before}) in {where}: rename one or keep one signature")
    return problems


def check_imports(lesson: Path) -> list[str]:
    problems = []
    for number, cell in enumerate(cells(lesson)):
        if cell["cell_type"] != "code" or is_proof(cell):
            continue
        bad = sorted(m for m in imported_modules(cell["source"]) if m.startswith(PROOF_ONLY_MODULES))
        if bad:
            problems.append(f"cell {number} imports {bad} outside the proof cell")
    return problems


def check_proof_cell(lesson: Path) -> list[str]:
    proofs = [(n, c) for n, c in enumerate(cells(lesson)) if is_proof(c)]
    problems = [f"{len(proofs)} cells tagged {PROOF_TAG!r}: at most one"] if len(proofs) > 1 else []
    for number, cell in proofs:
        if cell["cell_type"] != "code":
            problems.append(f"cell {number} is tagged {PROOF_TAG!r} but is {cell['cell_type']}")
        if not cell.get("metadata", {}).get("jupyter", {}).get("source_hidden"):
            problems.append(f"proof cell {number} is not collapsed (metadata jupyter.source_hidden)")
        if not cell["source"].startswith(PROOF_FIRST_LINE):
            problems.append(f"proof cell {number} does not start with {PROOF_FIRST_LINE!r}")
        if len(first := cell["source"].split("\n", 1)[0]) > PROOF_LINE_WIDTH:
            problems.append(f"proof cell {number}'s first line has {len(first)} characters, over {PROOF_LINE_WIDTH}")
    return problems


def prose_words(lesson: Path) -> int:
    return sum(len(c["source"].split()) for c in cells(lesson) if c["cell_type"] == "markdown")


def code_lines(lesson: Path) -> int:
    return sum(1 for c in code_cells(lesson) if not is_proof(c) for line in c["source"].splitlines() if line.strip())


def check_limits(lesson: Path) -> list[str]:
    words, lines = prose_words(lesson), code_lines(lesson)
    return [f"{words:,} words of prose (at most {MAX_WORDS:,})"] * (words > MAX_WORDS) + [
        f"{lines} lines of code (at most {MAX_CODE_LINES})"
    ] * (lines > MAX_CODE_LINES)


def headings(source: str, levels: str = "#") -> list[str]:
    """The level-1 and level-2 headings (``levels="#"``: only level 2 when ``"##"``) of a markdown source."""
    return [m.group(2).strip() for m in re.finditer(r"(?m)^(#{1,2}) (.+)$", source) if m.group(1).startswith(levels)]


def check_parts(lesson: Path) -> list[str]:
    level2 = [h for c in cells(lesson) if c["cell_type"] == "markdown" for h in headings(c["source"], "##")]
    problems = []
    if [h for h in level2 if h in SECTIONS] != list(SECTIONS) or level2[:1] != [SECTIONS[0]]:
        problems.append(f"the level-2 headings are {level2}, not the seven parts in order, first")
    quiz = [
        n for n, c in enumerate(cells(lesson)) if c["cell_type"] == "markdown" and SECTIONS[-1] in headings(c["source"])
    ]
    after = cells(lesson)[quiz[-1] + 1 :] if quiz else []
    if not any("Quiz.show(" in c["source"] for c in after):
        problems.append("no Quiz.show cell after the quiz heading")
    problems += [
        f"after the quiz: {c['source'][:60]!r}"
        for c in after
        if c["cell_type"] == "code" and "Quiz.show(" not in c["source"]
    ]
    problems += [
        f"after the quiz, heading {h!r}" for c in after if c["cell_type"] == "markdown" for h in headings(c["source"])
    ]
    return problems


CHECK_FUNCTIONS = {
    "names": check_names,
    "imports": check_imports,
    "proof_cell": check_proof_cell,
    "limits": check_limits,
    "parts": check_parts,
}


def marks(lesson: Path, check: str) -> list:
    case = (lesson.stem[:2], check)
    if case in NEEDS_A_SPLIT:
        return [pytest.mark.xfail(strict=True, reason="needs a split: see NEEDS_A_SPLIT")]
    return []


def cases() -> list:
    return [
        pytest.param(lesson, check, id=f"{lesson.stem[:2]}-{check}", marks=marks(lesson, check))
        for lesson in LESSONS
        for check in CHECKS
    ]


@pytest.mark.parametrize(("lesson", "check"), cases())
def test_lesson_keeps_the_curriculum_rules(lesson: Path, check: str) -> None:
    problems = CHECK_FUNCTIONS[check](lesson)
    assert not problems, f"{lesson.name}, {check}:\n  " + "\n  ".join(problems)


def test_lessons_are_numbered_in_order_and_only_known_cases_are_excused() -> None:
    assert [p.stem[:2] for p in LESSONS] == [f"{n:02d}" for n in range(1, len(LESSONS) + 1)] and len(LESSONS) >= 12
    assert {check for _, check in NEEDS_A_SPLIT} <= set(CHECKS) and set(CHECK_FUNCTIONS) == set(CHECKS)
