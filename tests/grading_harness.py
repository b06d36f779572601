"""The grading harness of tests/test_grading*.py: a temporary copy of the course, every reference submission of
some exercises graded in it by ``persistlab autograde`` (the real nbgrader CLI), and the checks each module runs on it.

Reference submissions are patches on the solution (``tests/submissions/``), each declaring the points every test
cell must give it; nbgrader grades every one of them, so no other rule scores a notebook. Hostile ones (endless
loops, a dying kernel, meter tampering) are patches too; deleted or edited test cells, an unreadable notebook and a
missing one are made here (:func:`structural_submissions`). Each course copy goes through release, collection (the
first from an LMS zip), one parallel autograde pass, feedback and export.
"""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import submissions
from helpers import FAKE_KEY, REPO, ok, persistlab, student

from persistlab.classroom import kernels

EXERCISES = sorted(p.name for p in (REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())


FIRST = "01_persist_and_reload"


# Per cell. Forked kernels: slowest real cell 2.9 s with 2 busy loops beside at nice -n 10 (06's crash test), 2.1 s
# in the whole suite; the two endless loops wait it out. Unforked, the import cell alone is 3.6 CPU s (36 s under load).
TIMEOUT_S = 12 if kernels.forking_enabled() else 30
REST_TIMEOUT_S = 120
"""Per cell, for every exercise but the first: none of their submissions loops forever, so a generous limit costs
nothing. Exercise 07's three-replica cell waits for the forkserver's imports: up to 31 s on a loaded 2-core machine."""


COLLECTED_BY_ZIP = FIRST  # this exercise's submissions arrive as an LMS zip, the others are copied in


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


def structural_submissions(course: Path) -> dict[str, dict[str, float]]:
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


PARTS = {
    "first": [FIRST],
    "others": [e for e in EXERCISES if FIRST < e < "06"],
    "later": [e for e in EXERCISES if e >= "06"],
}
"""The exercises of each course copy (one per test module: tests/test_grading.py, test_grading_others.py,
test_grading_later.py), of about equal cost. The first exercise has the most (and the hostile) submissions."""


def grade_course(tmp_path_factory: pytest.TempPathFactory, part: str) -> Graded:
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
            for name in submissions.names(exercise):
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
        structural = structural_submissions(course)
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


def reference_cases(exercises: list[str]) -> list[Any]:
    """One test parameter per reference submission of ``exercises``."""
    cases = []
    for exercise in exercises:
        solution = REPO / "solutions" / exercise / f"{exercise}.ipynb"
        for name in submissions.names(exercise):
            patch = submissions.load(exercise, name, solution)
            marks = [pytest.mark.xfail(strict=True, reason=patch.known_issue)] if patch.known_issue else []
            cases.append(pytest.param(exercise, name, id=f"{exercise}/{name}", marks=marks))
    return cases


def check_reference_submission(graded: Graded, exercise: str, name: str) -> None:
    patch = submissions.load(exercise, name, graded.course / "solutions" / exercise / f"{exercise}.ipynb")
    assert graded.grades[exercise, student(name)] == patch.expected, patch.summary


def hidden_lines(solution: Path) -> set[str]:
    hidden: set[str] = set()
    for cell in submissions.cells(solution):
        inside = False
        for line in "".join(cell["source"]).splitlines():
            if "BEGIN HIDDEN TESTS" in line or "END HIDDEN TESTS" in line:
                inside = "BEGIN" in line
            elif inside and len(line.strip()) >= 8:
                hidden.add(line.strip())
    return hidden


def visible_lines(notebook: Path) -> set[str]:
    return {line.strip() for cell in submissions.cells(notebook) for line in "".join(cell["source"]).splitlines()}


def page_text(page: Path) -> str:
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def write_feedback(graded: Graded) -> list[Path]:
    out = ok(persistlab("feedback", "--all", cwd=graded.course))
    pages = sorted((graded.course / "feedback").glob("*/*/*.html"))
    assert f"wrote {len(pages)} feedback file(s)" in out
    return pages


def check_feedback(graded: Graded, feedback: list[Path], part: str) -> None:
    expected_pages = {(e, w) for (e, w) in graded.grades if w not in ("unreadable-notebook", "missing-notebook")}
    assert {(p.parent.name, p.parent.parent.name) for p in feedback} == expected_pages
    messages_checked = 0
    for page in feedback:
        exercise, who = page.parent.name, page.parent.parent.name
        solution, release = paths(graded.course, exercise)
        submitted = graded.course / "submitted" / who / exercise / f"{exercise}.ipynb"
        secrets = hidden_lines(solution) - visible_lines(release) - visible_lines(submitted)
        text = page_text(page)
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
        ("06_production_startup", "republishes-every-start", "changed nothing but wrote to the folder"),
    ):
        if exercise in graded.exercises:
            solution, release = paths(graded.course, exercise)
            assert fragment in " ".join(hidden_lines(solution)) and fragment not in " ".join(visible_lines(release))
            assert fragment in page_text(graded.course / "feedback" / who / exercise / f"{exercise}.html"), (
                exercise,
                who,
            )
            fragments_checked += 1
    assert fragments_checked, f"no hidden test's failure message was checked in the {part} run"


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
