"""Hidden tests: their markers, how the release and the feedback remove them, and the check that none leaked.

Both sides of grading import it: the nbgrader preprocessors (:mod:`persistlab.classroom.preprocessors`), which
take hidden tests out of feedback, and the instructor's commands (:func:`persistlab.classroom.cycle.feedback`),
which refuse feedback that still shows one.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests are not shown)"
GRADER_ONLY = "persistlab_grader_only"
"""Cell metadata key of the cells autograde adds for graders (rubrics); feedback never shows them."""


def strip_hidden_tests(source: str) -> tuple[str, list[str]]:
    """``source`` with each hidden-test region replaced by :data:`HIDDEN_NOTE`, and the lines removed."""
    kept: list[str] = []
    hidden: list[str] = []
    inside = False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
            kept.append(line[: len(line) - len(line.lstrip())] + HIDDEN_NOTE)
            hidden.append(line)
        elif END_HIDDEN in line:
            inside = False
            hidden.append(line)
        elif inside:
            hidden.append(line)
        else:
            kept.append(line)
    return "\n".join(kept), hidden


def without_hidden_tests(source: str) -> str:
    """``source`` as the release shows it: each hidden-test region removed with its markers (as
    nbgrader's ``ClearHiddenTests`` does)."""
    kept, inside = [], False
    for line in source.split("\n"):
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def html_text(page: str) -> str:
    """The text a reader sees in an HTML page (tags removed, entities decoded), for leak checks."""
    page = re.sub(r"<(style|script)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def leaked_lines(feedback_html: Path, graded_notebook: Path) -> list[str]:
    """Hidden test lines of ``graded_notebook`` that ``feedback_html`` shows.

    Rubric cells for graders count as hidden. Lines shorter than 8 characters and lines that also
    appear outside hidden regions of the notebook (the learner may have written the same line) do not count.
    """
    cells = json.loads(graded_notebook.read_text(encoding="utf-8")).get("cells", [])
    hidden: set[str] = set()
    visible: set[str] = set()
    for cell in cells:
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if GRADER_ONLY in cell.get("metadata", {}):
            hidden |= {line.lstrip("> ").strip() for line in source.split("\n")}
            continue
        kept, removed = strip_hidden_tests(source)
        hidden |= {line.strip() for line in removed}
        visible |= {line.strip() for line in kept.split("\n")}
    secrets = {
        line for line in hidden - visible if len(line) >= 8 and BEGIN_HIDDEN not in line and END_HIDDEN not in line
    }
    text = html_text(feedback_html.read_text(encoding="utf-8"))
    return sorted(line for line in secrets if line in text)
