"""Repository-level promises: the lock, environment.yml, the README's commands, lesson structure."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from persistlab.notebooks import LESSON_SECTIONS, lesson_sections

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import course  # noqa: E402

LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))


def test_every_lock_line_is_an_exact_pin() -> None:
    pins = course.locked_pins()
    assert len(pins) > 100
    loose = [p for p in pins if not re.match(r"^[A-Za-z0-9._\[\],-]+==[^=<>~!;]+( ; .+)?$", p)]
    assert not loose, f"requirements.lock has unpinned lines: {loose}"


def test_every_direct_dependency_is_locked() -> None:
    locked = {re.split(r"[=\[ ;]", p)[0].lower() for p in course.locked_pins()}
    wanted = [re.split(r"[=<>\[ ]", line)[0].lower() for line in (ROOT / "requirements.in").read_text().splitlines()
              if line and not line.startswith("#")]
    assert set(wanted) - locked == set()


def test_environment_yml_offers_the_same_pinned_set_as_the_lock() -> None:
    text = (ROOT / "environment.yml").read_text()
    listed = re.findall(r'^      - "(.+)"$', text, re.M)
    assert listed[:-1] == course.locked_pins(), "environment.yml is stale: run `python3 course.py lock`"
    assert listed[-1] == "-e ."


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^python3 course\.py (\w+)$", readme[:600], re.M)
    assert commands[:2] == ["lab", "test"], readme[:600]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^python3 course\.py test\b", ci, re.M), ".ci/run must call the README's test command"


def test_there_is_a_start_page_and_lessons() -> None:
    assert (ROOT / course.START_PAGE).is_file()
    assert len(LESSONS) >= 6, [p.name for p in LESSONS]


@pytest.mark.parametrize("path", [p for p in LESSONS if not p.name.startswith("00_")], ids=lambda p: p.stem)
def test_lesson_has_the_seven_parts_in_order(path: Path) -> None:
    headings = lesson_sections(path)
    assert [h for h in headings if h in LESSON_SECTIONS] == list(LESSON_SECTIONS), headings
    assert headings[0] == LESSON_SECTIONS[0], "the seven parts come first-level after the title"
