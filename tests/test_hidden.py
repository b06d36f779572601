"""Hidden tests: stripping them for feedback, removing them as the release does, finding leaks (no kernel, no nbgrader run)."""

from __future__ import annotations

import json
from pathlib import Path

from persistlab.classroom.hidden import (
    BEGIN_HIDDEN,
    END_HIDDEN,
    GRADER_ONLY,
    HIDDEN_NOTE,
    html_text,
    leaked_lines,
    strip_hidden_tests,
    without_hidden_tests,
)

CELL = (
    "assert load() == 1\n"
    "    ### BEGIN HIDDEN TESTS\n"
    "    assert load(secret_folder) == 2, 'the hidden test says why'\n"
    "    ### END HIDDEN TESTS\n"
    "print('visible after')"
)


def test_strip_keeps_the_indent_and_one_note_per_region_and_returns_what_it_removed() -> None:
    kept, removed = strip_hidden_tests(CELL + "\n### BEGIN HIDDEN TESTS\nsecond = 1\n### END HIDDEN TESTS")
    assert kept.split("\n") == ["assert load() == 1", "    " + HIDDEN_NOTE, "print('visible after')", HIDDEN_NOTE]
    assert [line.strip() for line in removed] == [
        f"### {BEGIN_HIDDEN}",
        "assert load(secret_folder) == 2, 'the hidden test says why'",
        f"### {END_HIDDEN}",
        f"### {BEGIN_HIDDEN}",
        "second = 1",
        f"### {END_HIDDEN}",
    ]


def test_strip_leaves_a_cell_without_hidden_tests_alone() -> None:
    assert strip_hidden_tests("x = 1\nassert x") == ("x = 1\nassert x", [])


def test_without_hidden_tests_drops_region_and_markers_as_the_release_does() -> None:
    assert without_hidden_tests(CELL) == "assert load() == 1\nprint('visible after')"


def test_html_text_is_what_a_reader_sees() -> None:
    page = "<style>.secret_value{}</style><p>a &lt; b</p><script>var x = 'hidden';</script>"
    assert html_text(page).split() == ["a", "<", "b"]


def _notebook(tmp_path: Path, *cells: dict) -> Path:
    path = tmp_path / "graded.ipynb"
    path.write_text(
        json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}), encoding="utf-8"
    )
    return path


def test_leaked_lines_finds_hidden_source_and_rubrics_in_a_page_but_not_lines_the_learner_wrote(tmp_path: Path) -> None:
    graded = _notebook(
        tmp_path,
        {"cell_type": "code", "metadata": {}, "source": CELL, "outputs": []},
        {
            "cell_type": "code",
            "metadata": {},
            "source": "print('visible after')\nsecond_secret = 'abcdefgh'",
            "outputs": [],
        },
        {"cell_type": "markdown", "metadata": {GRADER_ONLY: {}}, "source": "> a rubric line for graders"},
    )
    page = tmp_path / "feedback.html"
    page.write_text(
        "<pre>assert load(secret_folder) == 2, &#x27;the hidden test says why&#x27;</pre>", encoding="utf-8"
    )
    assert leaked_lines(page, graded) == ["assert load(secret_folder) == 2, 'the hidden test says why'"]
    page.write_text("<p>a rubric line for graders</p><p>print('visible after')</p>", encoding="utf-8")
    assert leaked_lines(page, graded) == ["a rubric line for graders"]
    page.write_text(f"<pre>{HIDDEN_NOTE}</pre>", encoding="utf-8")
    assert leaked_lines(page, graded) == []
