"""The whole grading cycle, end to end, with the real nbgrader CLI behind the ``persistlab`` commands.

The submissions graded here are those only the real path can judge (the solution, the blank release,
every hostile one, those whose feedback is checked: wrong answers of the first two exercises); every other
reference submission is scored in tests/test_grading_forked.py by running the same cells, as
nbgrader would, in forks of one process that imported the libraries once (4 s saved per submission).

Two temporary copies of the course (never the working tree), one with the first exercise (this module)
and one with the others (tests/test_grading_others.py), each go through: release, every reference
submission autograded in one parallel pass, feedback, export (the first also has an LMS zip collected;
the second has one exercise graded again, serially, which must give identical grades). Two modules, so
that ``--dist loadscope`` runs the two end-to-end runs on two workers at once, each once per session.

Reference submissions are patches on the solution (``tests/submissions/``), each declaring the
points every test cell must give it. Hostile ones (endless loops, a dying kernel, meter tampering)
are patches too; deleted or edited test cells, an unreadable notebook and a missing one are made here.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import submissions

from persistlab.classroom import kernels

pytestmark = pytest.mark.nbgrader

REPO = Path(__file__).resolve().parents[1]
EXERCISES = sorted(p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())
FIRST = "01_persist_and_reload"
# Per cell. Forked kernels: slowest real cell 2.9 s with 2 busy loops beside at nice -n 10 (06's crash test), 2.1 s
# in the whole suite; the two endless loops wait it out. Unforked, the import cell alone is 3.6 CPU s (36 s under load).
TIMEOUT_S = 12 if kernels.forking_enabled() else 30
REST_TIMEOUT_S = 120
"""Per cell, for every exercise but the first: none of their submissions loops forever, so a generous limit costs
nothing. Exercise 07's three-replica cell waits for the forkserver's imports: up to 31 s on a loaded 2-core machine."""
COLLECTED_BY_ZIP = FIRST  # this exercise's submissions arrive as an LMS zip, the others are copied in
FAKE_KEY = "sk-instructors-key-must-not-reach-submissions"


FEEDBACK_CASES = {
    FIRST: ("cached_index", "forgot_to_persist"),
    "02_embedding_mismatch": ("check_after_load", "unsafe_version_folder"),
}
"""Submissions whose feedback pages are checked for a hidden test's message (and the base of the structural ones)."""


GRADED_BY_NBGRADER_ONLY = ("07_several_replicas",)
"""Exercises whose every reference submission the real nbgrader path grades: their tests start the learner's code
in processes of their own (persistlab.grading.processes), and each must lose exactly its points in a real grading."""


def through_nbgrader(exercise: str, name: str) -> bool:
    """Whether the real nbgrader path grades this reference submission (else tests/test_grading_forked.py does)."""
    return (
        exercise in GRADED_BY_NBGRADER_ONLY
        or name in ("solution", "blank")
        or name.startswith("hostile_")
        or name in FEEDBACK_CASES.get(exercise, ())
    )


def nbgrader_names(exercise: str) -> list[str]:
    return [n for n in submissions.names(exercise) if through_nbgrader(exercise, n)]


def student(name: str) -> str:
    return name.replace("_", "-")  # LMS file names use "_" to separate the student from the rest


def persistlab(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "persistlab.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def paths(course: Path, exercise: str) -> tuple[Path, Path]:
    """The source notebook of an exercise and its release."""
    return (
        course / "solutions" / exercise / f"{exercise}.ipynb",
        course / "exercises" / exercise / f"{exercise}.ipynb",
    )


def grades(course: Path, exercises: list[str]) -> dict[tuple[str, str], dict[str, float | None]]:
    """``{(exercise, student): {test cell: points}}`` from the course's gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "persistlab") as gb:
        for exercise in exercises:
            for sub in gb.find_assignment(exercise).submissions:
                notebook = gb.find_submission_notebook(exercise, exercise, sub.student.id)
                out[exercise, sub.student.id] = {g.name: g.auto_score for g in notebook.grades}
    return out


def _structural(course: Path) -> dict[str, dict[str, float]]:
    """Hostile submissions of the first exercise made by editing the notebook, with their expected points."""
    solution, release = paths(course, FIRST)
    base = submissions.load(FIRST, "forgot_to_persist", solution)
    folder = course / "submitted"

    def write(who: str, data: Any) -> Path:
        target = folder / who / FIRST / f"{FIRST}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
        return target

    nb = submissions.build(base, release, solution)
    nb["cells"] = [c for c in nb["cells"] if not c["metadata"].get("nbgrader", {}).get("grade")]
    write("tests-deleted", nb)  # every test cell deleted: put back from the gradebook and run
    nb = submissions.build(base, release, solution)
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade"):
            cell["source"], meta["points"] = "pass  # all tests pass now\n", 100
    write("tests-edited", nb)  # every test emptied and worth 100: restored, points as released
    write("unreadable-notebook", json.dumps(nb)[:500])  # cut off mid-upload
    write("missing-notebook", nb).rename(folder / "missing-notebook" / FIRST / "Untitled.ipynb")
    zero = {k: 0.0 for k in base.expected}
    return {
        "tests-deleted": base.expected,
        "tests-edited": base.expected,
        "unreadable-notebook": zero,
        "missing-notebook": zero,
    }


@dataclass
class Graded:
    course: Path
    exercises: list[str]
    collect_output: str
    autograde_output: str
    grades: dict[tuple[str, str], dict[str, float | None]]
    structural: dict[str, dict[str, float]]


PARTS = {"first": [FIRST], "rest": [e for e in EXERCISES if e != FIRST]}
"""The exercises of each course copy. The first exercise has the most (and the hostile) submissions."""


def _grade(tmp_path_factory: pytest.TempPathFactory, part: str) -> Graded:
    exercises = PARTS[part]
    course = tmp_path_factory.mktemp(f"course-{part}")
    shutil.copy(REPO / "nbgrader_config.py", course)
    for exercise in exercises:
        shutil.copytree(REPO / "solutions" / exercise, course / "solutions" / exercise)
    released = ok(persistlab("release", "--all", cwd=course))
    assert released.count("released exercises/") == len(exercises)

    lms_zip = course / "lms_download.zip"
    with zipfile.ZipFile(lms_zip, "w") as zf:
        for exercise in exercises:
            solution, release = paths(course, exercise)
            for name in nbgrader_names(exercise):
                data = json.dumps(submissions.build(submissions.load(exercise, name, solution), release, solution))
                if exercise == COLLECTED_BY_ZIP:  # Canvas-style: <student>_<user id>_<submission id>_<file name>
                    zf.writestr(f"submissions/{student(name)}_1001_2002_{exercise}.ipynb", data)
                else:
                    target = course / "submitted" / student(name) / exercise / f"{exercise}.ipynb"
                    target.parent.mkdir(parents=True)
                    target.write_text(data, encoding="utf-8")
        zf.writestr("submissions/latecomer_1003_2004_Untitled.ipynb", "{}")
    collected = structural = None
    if COLLECTED_BY_ZIP in exercises:
        collected = ok(persistlab("collect", str(lms_zip), COLLECTED_BY_ZIP, cwd=course))
    if FIRST in exercises:
        structural = _structural(course)
    output = ok(
        persistlab(
            "autograde",
            "--all",
            "--jobs",
            "2",
            "--timeout",
            str(TIMEOUT_S if part == "first" else REST_TIMEOUT_S),
            cwd=course,
            env={"OPENAI_API_KEY": FAKE_KEY, "PERSISTLAB_BACKEND": "openai"},
        )
    )
    return Graded(course, exercises, collected or "", output, grades(course, exercises), structural or {})


@pytest.fixture(scope="module")
def graded_first(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    return _grade(tmp_path_factory, "first")


def test_collect_files_each_submission_under_its_student(graded_first: Graded) -> None:
    expected = sorted(student(n) for n in nbgrader_names(COLLECTED_BY_ZIP))
    assert (
        f"collected {len(expected)} submission(s) of {COLLECTED_BY_ZIP}: {', '.join(expected)}"
        in graded_first.collect_output
    )
    assert (
        "skipped lms_download/submissions/latecomer_1003_2004_Untitled.ipynb: its name does not follow"
        in graded_first.collect_output
    )
    for who in expected:
        assert (graded_first.course / "submitted" / who / COLLECTED_BY_ZIP / f"{COLLECTED_BY_ZIP}.ipynb").is_file()
    assert not (graded_first.course / "submitted" / "latecomer").exists()


def reference_cases(exercises: list[str], nbgrader: bool = True) -> list[Any]:
    """The reference submissions of ``exercises`` the real nbgrader path grades (or, ``nbgrader=False``, the others)."""
    cases = []
    for exercise in exercises:
        solution = REPO / "solutions" / exercise / f"{exercise}.ipynb"
        for name in submissions.names(exercise):
            if through_nbgrader(exercise, name) != nbgrader:
                continue
            patch = submissions.load(exercise, name, solution)
            marks = [pytest.mark.xfail(strict=True, reason=patch.known_issue)] if patch.known_issue else []
            cases.append(pytest.param(exercise, name, id=f"{exercise}/{name}", marks=marks))
    return cases


@pytest.mark.parametrize(("exercise", "name"), reference_cases(PARTS["first"]))
def test_reference_submission_gets_exactly_its_points(graded_first: Graded, exercise: str, name: str) -> None:
    check_reference_submission(graded_first, exercise, name)


def check_reference_submission(graded: Graded, exercise: str, name: str) -> None:
    patch = submissions.load(exercise, name, graded.course / "solutions" / exercise / f"{exercise}.ipynb")
    assert graded.grades[exercise, student(name)] == patch.expected, patch.summary


def test_deleted_and_edited_test_cells_are_restored_and_run(graded_first: Graded) -> None:
    for who in ("tests-deleted", "tests-edited"):
        assert graded_first.grades[FIRST, who] == graded_first.structural[who], who
    graded_nb = graded_first.course / "autograded" / "tests-deleted" / FIRST / f"{FIRST}.ipynb"
    restored = [c for c in json.loads(graded_nb.read_text())["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
    assert len(restored) == len(submissions.points(paths(graded_first.course, FIRST)[0]))
    assert re.search(
        rf"{FIRST}\s+tests-deleted\s+graded\s+7/11\s+2\s+persist_writes_files was deleted and restored",
        graded_first.autograde_output,
    )


def test_unreadable_or_missing_notebook_scores_zero_and_is_reported(graded_first: Graded) -> None:
    for who, status in (("unreadable-notebook", "unreadable"), ("missing-notebook", "missing")):
        assert graded_first.grades[FIRST, who] == graded_first.structural[who]
        assert re.search(rf"{FIRST}\s+{who}\s+{status}\s+0/11\s+-\s+", graded_first.autograde_output), (
            graded_first.autograde_output
        )
    assert f"no {FIRST}.ipynb was submitted" in graded_first.autograde_output
    assert f"{FIRST}.ipynb is not a notebook (JSONDecodeError" in graded_first.autograde_output


def test_endless_loops_and_dead_kernels_cost_only_their_own_cells(graded_first: Graded) -> None:
    out = graded_first.autograde_output
    assert re.search(r"hostile-infinite-loop\s+graded\s+2/11\s+2\s+timed out in cell \d+$", out, re.M), out
    assert re.search(
        r"hostile-loop-ignores-interrupt\s+graded\s+2/11\s+2\s+timed out in cell \d+; \d+ later cell\(s\) not run", out
    ), out
    assert re.search(
        r"hostile-kernel-dies\s+graded\s+2/11\s+2\s+kernel died in cell \d+; \d+ later cell\(s\) not run", out
    ), out
    assert not re.search(r"^\S+\s+\S+\s+failed\s", out, re.M), out


def test_graded_code_sees_no_keys_and_runs_offline(graded_first: Graded) -> None:
    """autograde ran with OPENAI_API_KEY and PERSISTLAB_BACKEND=openai set: neither reaches submissions."""
    printed = "".join(
        "".join(output.get("text", ""))
        for cell in submissions.cells(
            graded_first.course / "autograded" / "hostile-reads-secrets" / FIRST / f"{FIRST}.ipynb"
        )
        for output in cell.get("outputs", [])
    )
    lines = printed.splitlines()
    assert "{}" in lines, printed  # the secrets it looked for
    assert any(line.startswith("Backend: the offline simulator") for line in lines), printed  # persistlab.setup()
    leaks = [
        p for p in (graded_first.course / "autograded").rglob("*.ipynb") if FAKE_KEY in p.read_text(encoding="utf-8")
    ]
    assert not leaks, leaks


def _hidden_lines(solution: Path) -> set[str]:
    hidden: set[str] = set()
    for cell in submissions.cells(solution):
        inside = False
        for line in "".join(cell["source"]).splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif inside and len(line.strip()) >= 8:
                hidden.add(line.strip())
    return hidden


def _visible_lines(notebook: Path) -> set[str]:
    return {line.strip() for cell in submissions.cells(notebook) for line in "".join(cell["source"]).splitlines()}


def _text(page: Path) -> str:
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def _feedback(graded: Graded) -> list[Path]:
    out = ok(persistlab("feedback", "--all", cwd=graded.course))
    pages = sorted((graded.course / "feedback").glob("*/*/*.html"))
    assert f"wrote {len(pages)} feedback file(s)" in out
    return pages


@pytest.fixture(scope="module")
def feedback_first(graded_first: Graded) -> list[Path]:
    return _feedback(graded_first)


def test_feedback_never_shows_hidden_tests_but_keeps_their_messages(
    graded_first: Graded, feedback_first: list[Path]
) -> None:
    check_feedback(graded_first, feedback_first, "first")


def check_feedback(graded: Graded, feedback: list[Path], part: str) -> None:
    expected_pages = {(e, w) for (e, w) in graded.grades if w not in ("unreadable-notebook", "missing-notebook")}
    assert {(p.parent.name, p.parent.parent.name) for p in feedback} == expected_pages
    messages_checked = 0
    for page in feedback:
        exercise, who = page.parent.name, page.parent.parent.name
        solution, release = paths(graded.course, exercise)
        submitted = graded.course / "submitted" / who / exercise / f"{exercise}.ipynb"
        secrets = _hidden_lines(solution) - _visible_lines(release) - _visible_lines(submitted)
        text = _text(page)
        assert secrets and not [line for line in secrets if line in text], f"{page} shows hidden test source"
        autograded = graded.course / "autograded" / who / exercise / f"{exercise}.ipynb"
        for cell in submissions.cells(autograded):
            for output in cell.get("outputs", []):
                if output["output_type"] == "error" and cell["metadata"].get("nbgrader", {}).get("grade"):
                    message = f"{output['ename']}: {output['evalue']}".splitlines()[0]
                    assert message in text, f"{page} lost the failure message {message!r}"
                    messages_checked += 1
    assert messages_checked > 10, messages_checked
    # Failures raised inside hidden tests reach the learner as their message alone.
    fragments_checked = 0
    for exercise, who, fragment in (
        (FIRST, "cached-index", "after the test swapped the stored vectors"),
        ("02_embedding_mismatch", "check-after-load", "check the manifest before loading"),
        ("02_embedding_mismatch", "unsafe-version-folder", "keep to letters, digits"),
    ):
        if exercise in graded.exercises:
            solution, release = paths(graded.course, exercise)
            assert fragment in " ".join(_hidden_lines(solution)) and fragment not in " ".join(_visible_lines(release))
            assert fragment in _text(graded.course / "feedback" / who / exercise / f"{exercise}.html"), (exercise, who)
            fragments_checked += 1
    assert fragments_checked, f"no hidden test's failure message was checked in the {part} run"


def test_plain_html_of_a_graded_notebook_would_leak_hidden_tests(graded_first: Graded) -> None:
    """What the feedback test guards against (nbgrader issue #917): shown here, so that test can fail."""
    from nbconvert import HTMLExporter

    from persistlab.classroom.cycle import leaked_lines

    graded_nb = graded_first.course / "autograded" / "solution" / FIRST / f"{FIRST}.ipynb"
    page = graded_first.course / "plain.html"
    page.write_text(HTMLExporter().from_filename(str(graded_nb))[0], encoding="utf-8")
    secrets = _hidden_lines(paths(graded_first.course, FIRST)[0]) - _visible_lines(paths(graded_first.course, FIRST)[1])
    assert [line for line in secrets if line in _text(page)]
    assert leaked_lines(page, graded_nb)


def test_export_lists_every_submission_with_its_total(graded_first: Graded) -> None:
    check_export(graded_first)


def check_export(graded: Graded) -> None:
    out = ok(persistlab("export", "--to", "grades.csv", cwd=graded.course))
    assert out.strip().endswith("grades.csv")
    with (graded.course / "grades.csv").open(newline="") as f:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    assert set(graded.grades) <= set(rows)
    for key, cells in graded.grades.items():
        assert float(rows[key]["score"]) == sum(v or 0.0 for v in cells.values()), key
    for exercise in graded.exercises:
        points = submissions.points(paths(graded.course, exercise)[0])
        by_hand = sum(points[w] for w in submissions.written_ids(paths(graded.course, exercise)[0]))  # not graded yet
        assert float(rows[exercise, "solution"]["max_score"]) == sum(points.values())
        assert float(rows[exercise, "solution"]["score"]) == sum(points.values()) - by_hand


def test_learner_self_check_scores_the_visible_tests(graded_first: Graded, tmp_path: Path) -> None:
    solution, release = paths(graded_first.course, FIRST)
    notebook = tmp_path / FIRST / f"{FIRST}.ipynb"
    notebook.parent.mkdir()
    notebook.write_text(
        json.dumps(submissions.build(submissions.load(FIRST, "forgot_to_persist", solution), release, solution))
    )
    before = notebook.read_bytes()
    progress = tmp_path / "progress.json"
    result = persistlab("check", str(notebook), cwd=tmp_path, env={"PERSISTLAB_PROGRESS_FILE": str(progress)})
    out = ok(result)
    assert "Traceback" not in result.stderr and "NOTE:" not in out, f"the learner sees noise:\n{out}\n{result.stderr}"
    assert re.search(r"persist_writes_files\s+0/2\s+AssertionError: docstore.json is not in persist_dir", out), out
    for test, points in (("reload_zero_calls", 2), ("reload_from_disk", 3), ("reload_uses_given_model", 2)):
        assert re.search(rf"{test}\s+{points}/{points}\s+passed", out), out
    assert "visible tests: 7/9 points" in out
    assert notebook.read_bytes() == before, "check must not change the learner's notebook"
    recorded = json.loads(progress.read_text())["exercises"][FIRST]
    assert (recorded["score"], recorded["max_score"]) == (7.0, 9.0)


def test_check_refuses_what_is_not_a_notebook(tmp_path: Path) -> None:
    broken = tmp_path / "01_x.ipynb"
    broken.write_text("{ not json")
    result = persistlab("check", str(broken), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{broken}: 01_x.ipynb is not a notebook (JSONDecodeError" in result.stderr
