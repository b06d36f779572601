"""The whole grading cycle of the first exercise, end to end, with the real nbgrader CLI behind the ``persistlab``
commands (tests/grading_harness.py): submissions collected from an LMS zip, every reference submission and every
hostile one graded, restored test cells, secrets kept from graded code, feedback that hides hidden tests, export and
the learner's self-check. tests/test_grading_others.py and test_grading_later.py grade the other exercises, each in a
course copy of its own, so that ``--dist loadscope`` runs them on other workers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import submissions
from grading_harness import (
    COLLECTED_BY_ZIP,
    FIRST,
    PARTS,
    Graded,
    check_export,
    check_feedback,
    check_reference_submission,
    grade_course,
    hidden_lines,
    page_text,
    paths,
    reference_cases,
    visible_lines,
    write_feedback,
)
from helpers import FAKE_KEY, ok, persistlab, student

pytestmark = pytest.mark.nbgrader


@pytest.fixture(scope="module")
def graded_first(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    return grade_course(tmp_path_factory, "first")


def test_collect_files_each_submission_under_its_student(graded_first: Graded) -> None:
    expected = sorted(student(n) for n in submissions.names(COLLECTED_BY_ZIP))
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


@pytest.mark.parametrize(("exercise", "name"), reference_cases(PARTS["first"]))
def test_reference_submission_gets_exactly_its_points(graded_first: Graded, exercise: str, name: str) -> None:
    check_reference_submission(graded_first, exercise, name)


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


@pytest.fixture(scope="module")
def feedback_first(graded_first: Graded) -> list[Path]:
    return write_feedback(graded_first)


def test_feedback_never_shows_hidden_tests_but_keeps_their_messages(
    graded_first: Graded, feedback_first: list[Path]
) -> None:
    check_feedback(graded_first, feedback_first, "first")


def test_plain_html_of_a_graded_notebook_would_leak_hidden_tests(graded_first: Graded) -> None:
    """What the feedback test guards against (nbgrader issue #917): shown here, so that test can fail."""
    from nbconvert import HTMLExporter

    from persistlab.classroom.cycle import leaked_lines

    graded_nb = graded_first.course / "autograded" / "solution" / FIRST / f"{FIRST}.ipynb"
    page = graded_first.course / "plain.html"
    page.write_text(HTMLExporter().from_filename(str(graded_nb))[0], encoding="utf-8")
    secrets = hidden_lines(paths(graded_first.course, FIRST)[0]) - visible_lines(paths(graded_first.course, FIRST)[1])
    assert [line for line in secrets if line in page_text(page)]
    assert leaked_lines(page, graded_nb)


def test_export_lists_every_submission_with_its_total(graded_first: Graded) -> None:
    check_export(graded_first)


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
