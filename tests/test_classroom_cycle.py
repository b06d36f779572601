"""The README's instructor cycle, run literally on a fresh copy of the course, as a new instructor would.

The commands are read from the README's "One assignment cycle" block and run in order in a new git repository
holding two exercises, of which only the first is collected (an LMS zip of four submissions: a full solution, one
that loses points, one with a syntax error, one that is not a notebook). The README's hand-grading step is done
as the formgrader does it (a manual score on each written answer's grade). ``feedback`` is also run once before
it, to see the warning an instructor gets when written answers are still ungraded.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import submissions
from helpers import REPO

pytestmark = pytest.mark.nbgrader

SET, NOT_SET = "01_persist_and_reload", "02_embedding_mismatch"
WRITTEN = "written_why_pass_model"
STUDENTS = {"ada": "solution", "cyd": "forgot_to_persist", "dee": "solution"}
"""Students of the zip and the reference submission each hands in; dee's gets a syntax error (:func:`_break`)."""
BROKEN_LINE = "def load_persisted_index(("


def readme_cycle() -> list[str]:
    """The lines of the README's "One assignment cycle" block."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("**One assignment cycle**", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return block.splitlines()


def _break(nb: dict) -> dict:
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if "def load_persisted_index(" in source:
            cell["source"] = source.replace("def load_persisted_index(", BROKEN_LINE, 1)
            return nb
    raise AssertionError("no cell defines load_persisted_index")


def _zip(course: Path, to: Path) -> None:
    solution = course / "solutions" / SET / f"{SET}.ipynb"
    release = course / "exercises" / SET / f"{SET}.ipynb"
    with zipfile.ZipFile(to, "w") as zf:
        for who, name in STUDENTS.items():
            nb = submissions.build(submissions.load(SET, name, solution), release, solution)
            zf.writestr(f"submissions/{who}_1001_2002_{SET}.ipynb", json.dumps(_break(nb) if who == "dee" else nb))
        zf.writestr(f"submissions/eve_1003_2004_{SET}.ipynb", '{"cells": [')  # cut off mid-upload


def _grade_by_hand(course: Path) -> None:
    """What the formgrader's Manual Grading does when the instructor types a score (its GradeHandler)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "persistlab") as gb:
        for who, points in (("ada", 2.0), ("cyd", 1.0), ("dee", 0.0)):
            grade = gb.find_grade(WRITTEN, SET, SET, who)
            grade.manual_score = points
            grade.needs_manual_grade = False
        gb.db.commit()


@dataclass
class Cycle:
    course: Path
    outputs: dict[str, str] = field(default_factory=dict)
    """``{command: stdout and stderr}``, the first word after ``persistlab`` as key; ``early feedback`` for the
    feedback run before hand grading."""
    pages_before: dict[str, str] = field(default_factory=dict)


def run(line: str, course: Path) -> str:
    args = shlex.split(line)
    assert args[0] == "persistlab", line
    result = subprocess.run(
        [sys.executable, "-m", "persistlab.cli", *args[1:]], cwd=course, capture_output=True, text=True
    )
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory) -> Cycle:
    course = tmp_path_factory.mktemp("fresh-course")
    for name in ("nbgrader_config.py", ".gitignore", "README.md"):
        shutil.copy(REPO / name, course)
    for exercise in (SET, NOT_SET):
        shutil.copytree(REPO / "solutions" / exercise, course / "solutions" / exercise)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=course, check=True)
    subprocess.run([*git, "add", "-A"], cwd=course, check=True)
    subprocess.run([*git, "commit", "-qm", "the course"], cwd=course, check=True)
    done = Cycle(course)
    for raw in readme_cycle():
        line = raw.split("  #", 1)[0].strip()
        if raw.startswith("# grade the written answers"):
            done.outputs["early feedback"] = run(f"persistlab feedback {SET}", course)
            done.pages_before = {p.parent.parent.name: p.read_text() for p in course.glob(f"feedback/*/{SET}/*.html")}
            _grade_by_hand(course)
        if not line or line.startswith(("#", "source ")):
            continue
        if line.startswith("persistlab collect"):
            _zip(course, course / shlex.split(line)[2])
        if line.startswith("persistlab release"):
            done.outputs["release"] = run(line, course)
            subprocess.run([*git, "add", "exercises"], cwd=course, check=True)  # "commit exercises/"
            subprocess.run([*git, "commit", "-qm", "release"], cwd=course, check=True)
            continue
        done.outputs[shlex.split(line)[1]] = run(line, course)
    return done


def test_the_readme_runs_the_cycle_in_the_order_an_instructor_lives_it() -> None:
    commands = [shlex.split(line.split("  #")[0])[1] for line in readme_cycle() if line.startswith("persistlab ")]
    grading = next(i for i, line in enumerate(readme_cycle()) if line.startswith("# grade the written answers"))
    feedback_at = next(i for i, line in enumerate(readme_cycle()) if line.startswith("persistlab feedback"))
    assert grading < feedback_at, "feedback must come after hand grading in the README's cycle"
    assert commands.index("autograde") < commands.index("feedback") < commands.index("export")


def test_every_command_succeeds(cycle: Cycle) -> None:
    for command, output in cycle.outputs.items():
        assert output.startswith("exit 0"), f"{command}: {output}"


def test_git_status_is_clean_after_the_cycle(cycle: Cycle) -> None:
    status = subprocess.run(["git", "status", "--porcelain"], cwd=cycle.course, capture_output=True, text=True)
    assert status.stdout == "", f"files the README makes are not ignored by git:\n{status.stdout}"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    private = readme.split("Keep private", 1)[1].split("\n\n", 1)[0]
    for made in ("submissions.zip", "downloaded/", "submitted/", "autograded/", "feedback/", "gradebook.db"):
        assert f"`{made}`" in private, f"the README's keep-private list leaves out {made}"
    for made in ("grades.csv", "report.png", "students.csv"):
        assert f"`{made}`" in private, f"the README's keep-private list leaves out {made}"


def test_autograde_prints_no_library_warnings_and_a_note_for_every_lost_point(cycle: Cycle) -> None:
    out = cycle.outputs["autograde"]
    for noise in ("without encryption", "SAWarning", "Warning:"):
        assert noise not in out, f"autograde printed {noise!r}:\n{out}"
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith(SET)}
    assert set(rows) == {*STUDENTS, "eve"}, out
    assert "lost points on persist_writes_files 0/2" in rows["cyd"], rows["cyd"]
    assert re.search(
        r"SyntaxError: .*\(in answer_load_persisted_index, line \d+: def load_persisted_index\(\(", rows["dee"]
    )
    for who, row in rows.items():
        score, top = re.search(r"(\d+)/(\d+)", row).groups()  # type: ignore[union-attr]
        by_hand = row.split()[4]
        lost = int(top) - int(score) - (int(by_hand) if by_hand != "-" else 0)
        assert not lost or len(row.split()) > 5, f"{who} lost {lost} points and has no note: {row}"


def test_feedback_warns_while_written_answers_are_ungraded_and_names_what_it_skipped(cycle: Cycle) -> None:
    early, final = cycle.outputs["early feedback"], cycle.outputs["feedback"]
    for who in STUDENTS:
        assert re.search(rf"{who} \({SET}/{SET}\): {WRITTEN}", early), early
    assert "not graded by hand yet" in early and "not graded by hand yet" not in final, final
    for out in (early, final):
        assert re.search(rf"no feedback for eve \({SET}\): {SET}\.ipynb is not a notebook", out), out
    assert "Score: 0.0 / 2.0" in cycle.pages_before["ada"]  # what the warning is about


def test_feedback_carries_the_hand_graded_points(cycle: Cycle) -> None:
    pages = {who: (cycle.course / "feedback" / who / SET / f"{SET}.html").read_text() for who in STUDENTS}
    assert "Score: 2.0 / 2.0" in pages["ada"] and "Score: 11.0 / 11.0" in pages["ada"]
    assert "Score: 1.0 / 2.0" in pages["cyd"]


def test_feedback_pages_are_readable(cycle: Cycle) -> None:
    from persistlab.classroom.preprocessors import FEEDBACK_CSS, QUIZ_NOTE

    page = (cycle.course / "feedback" / "cyd" / SET / f"{SET}.html").read_text()
    assert FEEDBACK_CSS.strip() in page, "no table borders, no wrapping of long messages"
    assert "widget-view+json" not in page and QUIZ_NOTE in page, "a quiz shows as an empty Out[n]:"


def test_export_has_no_rows_for_work_never_set_and_no_id_as_a_name(cycle: Cycle) -> None:
    assert "grades.csv" in cycle.outputs["export"]
    with (cycle.course / "grades.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["assignment"] for r in rows} == {SET}, "rows for an assignment nobody was given"
    assert {r["student_id"] for r in rows} == {*STUDENTS, "eve"}
    assert all(r["last_name"] != r["student_id"] for r in rows), rows
    scores = {r["student_id"]: float(r["score"]) for r in rows}
    assert scores["ada"] == 11.0 and scores["eve"] == 0.0  # hand-graded points included
    every = run("persistlab export --all-assignments --to every.csv", cycle.course)
    with (cycle.course / "every.csv").open(newline="") as f:
        assert {r["assignment"] for r in csv.DictReader(f)} == {SET, NOT_SET}, every
    (cycle.course / "every.csv").unlink()


def test_report_leaves_out_work_never_set_and_keeps_the_end_of_messages(cycle: Cycle) -> None:
    out = cycle.outputs["report"]
    assert NOT_SET not in out and " 0/0 " not in out, out
    assert "SyntaxError" in out, "a syntax error is reported as the NameErrors it causes"
    assert (cycle.course / "report.png").stat().st_size > 10_000


def test_report_counts_hand_grading(cycle: Cycle) -> None:
    from persistlab.classroom.course import Course
    from persistlab.classroom.report import bar_note, class_report

    tests = class_report(Course.load(cycle.course), [SET]).tests
    written = next(t for t in tests if t.name == WRITTEN)
    assert (written.by_hand, written.waiting) == (3, 0), written
    assert bar_note(written).startswith("3/4 failed; 3 graded by hand")


def test_self_check_shows_a_syntax_error_as_one(cycle: Cycle, tmp_path: Path) -> None:
    notebook = tmp_path / f"{SET}.ipynb"
    shutil.copy(cycle.course / "submitted" / "dee" / SET / f"{SET}.ipynb", notebook)
    env = {**os.environ, "PERSISTLAB_PROGRESS_FILE": str(tmp_path / "progress.json")}
    result = subprocess.run(
        [sys.executable, "-m", "persistlab.cli", "check", str(notebook)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    out = result.stdout
    assert re.search(
        r"^SyntaxError: .*\(in answer_load_persisted_index, line \d+: def load_persisted_index\(\(", out, re.M
    ), out
    assert "NameError: name 'load_persisted_index' is not defined (fix the SyntaxError above first)" in out, out


def test_a_course_without_an_exchange_gets_one_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The formgrader logs 'Unwritable directory' for nbgrader's default exchange when nothing sets one."""
    from traitlets.config import Config

    from persistlab.classroom import nbgrader_config

    monkeypatch.setattr(nbgrader_config, "NBGRADER_EXCHANGE", str(tmp_path / "no-such-exchange"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "user-config"))
    c = Config()
    c.CourseDirectory.root = str(tmp_path / "course")
    nbgrader_config.configure(c)
    assert c.Exchange.root == str(tmp_path / "course" / ".nbgrader" / "exchange")
    assert os.access(c.Exchange.root, os.W_OK)

    (tmp_path / "user-config").mkdir()  # an instructor's (or the site's) exchange is never overridden
    (tmp_path / "user-config" / "nbgrader_config.py").write_text('get_config().Exchange.root = "/srv/exchange"\n')
    c = Config()
    nbgrader_config.configure(c)
    assert "root" not in c.Exchange


def test_report_keeps_the_end_of_a_long_failure_message() -> None:
    from persistlab.classroom.report import MESSAGE_CHARS, shorten

    message = (
        "AssertionError: a query on the loaded index made 2 requests with the model passed in, not 1: "
        "the index does not use embed_model"
    )
    short = shorten(message + " to make it long enough" * 3)
    assert len(short) == MESSAGE_CHARS and short.startswith("AssertionError: ...")
    assert shorten(message, 80).endswith("the index does not use embed_model")
    assert shorten("AssertionError: short") == "AssertionError: short"
