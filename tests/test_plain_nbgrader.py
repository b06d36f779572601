"""Plain nbgrader (no persistlab command in between), as an instructor or the formgrader runs it, gets the
course's protections from nbgrader_config.py alone; and the class report over what it graded.

One temporary copy of the course and one exercise: ``nbgrader generate_assignment``, a few reference
submissions (tests/submissions/), ``nbgrader autograde`` run with an API key and the real backend
in its environment, ``nbgrader generate_feedback``; then ``persistlab report``. Every nbgrader run
is shared by the module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import submissions
from helpers import FAKE_KEY, REPO, student

from persistlab.classroom.hidden import GRADER_ONLY, html_text

pytestmark = pytest.mark.nbgrader

EXERCISE = "01_persist_and_reload"
SUBMISSIONS = ("solution", "blank", "hostile_reads_secrets", "forgot_to_persist")
ARTIFACTS = REPO / "test-artifacts" / "report"


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # nbgrader calls `alembic`
    done = subprocess.run(
        list(args),
        cwd=cwd,
        env={**os.environ, "PATH": path, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{' '.join(args)} exited with {done.returncode}:\n{done.stdout[-4000:]}"
    return done.stdout


def nbgrader(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    return run(sys.executable, "-m", "nbgrader", *args, cwd=cwd, env=env)


@dataclass
class Course:
    root: Path
    autograde_log: str

    def graded(self, who: str) -> Path:
        return self.root / "autograded" / student(who) / EXERCISE / f"{EXERCISE}.ipynb"

    def feedback(self, who: str) -> Path:
        return self.root / "feedback" / student(who) / EXERCISE / f"{EXERCISE}.html"


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Course:
    root = tmp_path_factory.mktemp("plain-course")
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(REPO / "solutions" / EXERCISE, root / "solutions" / EXERCISE)
    nbgrader("generate_assignment", EXERCISE, "--force", cwd=root)
    solution = root / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"
    release = root / "exercises" / EXERCISE / f"{EXERCISE}.ipynb"
    for name in SUBMISSIONS:
        target = root / "submitted" / student(name) / EXERCISE / f"{EXERCISE}.ipynb"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(submissions.build(submissions.load(EXERCISE, name, solution), release, solution)))
    (root / "students.csv").write_text("id,first_name,last_name,email\nsolution,Ada,Lovelace,ada@example.org\n")
    log = nbgrader(
        "autograde",
        EXERCISE,
        "--force",
        cwd=root,
        env={"OPENAI_API_KEY": FAKE_KEY, "GITHUB_TOKEN": FAKE_KEY, "PERSISTLAB_BACKEND": "openai"},
    )
    nbgrader("generate_feedback", EXERCISE, "--force", cwd=root)
    return Course(root, log)


def _printed(notebook: Path) -> str:
    return "".join("".join(o.get("text", "")) for c in submissions.cells(notebook) for o in c.get("outputs", []))


def test_plain_autograde_passes_no_keys_to_graded_code(course: Course) -> None:
    lines = _printed(course.graded("hostile_reads_secrets")).splitlines()
    assert "{}" in lines, lines  # what the submission printed of OPENAI_* / *_KEY / *_TOKEN
    assert any(line.startswith("Backend: the offline simulator") for line in lines), lines
    assert not [p for p in course.root.rglob("*.ipynb") if FAKE_KEY in p.read_text(encoding="utf-8")]


def test_plain_autograde_gives_the_reference_points(course: Course) -> None:
    from nbgrader.api import Gradebook

    solution = course.root / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gb:
        for name in SUBMISSIONS:
            nb = gb.find_submission_notebook(EXERCISE, EXERCISE, student(name))
            assert {g.name: g.auto_score for g in nb.grades} == submissions.load(EXERCISE, name, solution).expected, (
                name
            )


def test_no_false_checksum_warnings(course: Course) -> None:
    """nbgrader #1961: every unedited test cell with hidden tests used to be reported as changed."""
    assert "has changed" not in course.autograde_log, re.findall(r".*has changed.*", course.autograde_log)[:3]
    autograded = re.findall(r"Autograding (\S+)", course.autograde_log)  # one line per notebook nbgrader graded
    assert len(autograded) == len(SUBMISSIONS), course.autograde_log[-3000:]


def test_students_have_names_not_none(course: Course) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gb:
        names = {s.id: (s.last_name, s.first_name) for s in gb.students}
    assert names[student("solution")] == ("Lovelace", "Ada")  # from the roster
    assert names[student("blank")] == (student("blank"), "")  # not in it: the id
    assert not [who for who, name in names.items() if None in name]


def test_written_answers_wait_for_the_instructor_with_the_rubric_beside_them(course: Course) -> None:
    from nbgrader.api import Gradebook

    solution = course.root / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"
    [written] = submissions.written_ids(solution)
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gb:
        answered = next(
            g for g in gb.find_submission_notebook(EXERCISE, EXERCISE, student("solution")).grades if g.name == written
        )
        blank = next(
            g for g in gb.find_submission_notebook(EXERCISE, EXERCISE, student("blank")).grades if g.name == written
        )
        assert answered.needs_manual_grade and answered.auto_score is None
        assert not blank.needs_manual_grade and blank.auto_score == 0  # "YOUR ANSWER HERE" is no answer
    cells = submissions.cells(course.graded("solution"))
    at = next(i for i, c in enumerate(cells) if submissions.grade_id(c) == written)
    rubric = cells[at + 1]
    assert GRADER_ONLY in rubric["metadata"] and "For the grader" in "".join(rubric["source"])
    assert "1 point:" in "".join(rubric["source"])


def _rubric_lines(solution: Path) -> set[str]:
    lines: set[str] = set()
    for cell in submissions.cells(solution):
        if cell["cell_type"] == "markdown" and submissions.grade_id(cell) in submissions.written_ids(solution):
            _, _, rubric = "".join(cell["source"]).partition("### BEGIN HIDDEN TESTS")
            lines |= {
                line.strip("- ").strip()
                for line in rubric.split("\n")
                if len(line.strip()) > 20 and "HIDDEN" not in line
            }
    return lines


def test_no_rubric_line_in_the_release_or_any_feedback(course: Course) -> None:
    rubric = _rubric_lines(REPO / "solutions" / EXERCISE / f"{EXERCISE}.ipynb")
    assert len(rubric) >= 2
    for path in sorted((REPO / "exercises").glob("*/*.ipynb")):
        text = path.read_text(encoding="utf-8")
        for solution in (REPO / "solutions").glob("*/*.ipynb"):
            assert not [line for line in _rubric_lines(solution) if line in text], path
    pages = sorted((course.root / "feedback").rglob("*.html"))
    assert len(pages) == len(SUBMISSIONS)
    for page in pages:
        text = html_text(page.read_text(encoding="utf-8"))
        assert not [line for line in rubric if line in text] and "For the grader" not in text, page
    # The rubric really is in what the formgrader shows (so the check above could fail).
    graded_text = course.graded("solution").read_text(encoding="utf-8")
    assert [line for line in rubric if line in graded_text]


def test_feedback_shows_where_a_visible_check_failed(course: Course) -> None:
    """The blank release raises NotImplementedError() with no message: feedback shows the visible line that called it."""
    text = html_text(course.feedback("blank").read_text(encoding="utf-8"))
    assert "NotImplementedError" in text
    assert "index = build_and_persist(documents, target, embed_model)" in text
    assert "(hidden tests are not shown)" in text and "text-embedding-3-large" not in text  # a hidden line


# --- the class report ---------------------------------------------------------------------------


def test_class_report_counts_failures_and_their_messages(course: Course) -> None:
    from persistlab.classroom.course import Course as ClassroomCourse
    from persistlab.classroom.report import NOT_ATTEMPTED, class_report, format_report

    report = class_report(ClassroomCourse.load(course.root), [EXERCISE])
    tests = {t.name: t for t in report.tests}
    solution = course.root / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"
    expected = {name: submissions.load(EXERCISE, name, solution).expected for name in SUBMISSIONS}
    for test, stats in tests.items():
        if stats.written:
            assert stats.waiting == sum(e[test] is None for e in expected.values())
            assert stats.failed == 1 and stats.messages == {"no answer": 1}  # the blank release
            continue
        failing = [n for n, e in expected.items() if e[test] < stats.max_score]
        assert (stats.failed, stats.graded) == (len(failing), len(SUBMISSIONS)), test
        assert sum(stats.messages.values()) == len(failing), (test, stats.messages)
    assert (
        tests["persist_writes_files"].common_messages(2)[1][0] == NOT_ATTEMPTED
    )  # the blank's, after the real mistake
    [ex] = report.exercises
    assert sorted(ex.scores.values()) == sorted(sum(v or 0.0 for v in e.values()) for e in expected.values())
    table = format_report(report)
    answered = len(SUBMISSIONS) - 1  # every written answer but the blank release's waits for the instructor
    assert re.search(
        rf"persist_writes_files\s+2/{len(SUBMISSIONS)}\s+.*1x AssertionError: docstore.json is not in persist_dir",
        table,
    ), table
    assert re.search(rf"written_why_pass_model \(written\)\s+1/1\s+{answered} to grade by hand; 1x no answer", table), (
        table
    )
    assert re.search(rf"{EXERCISE}\s+{len(SUBMISSIONS)}\s+\S+\s+\S+\s+11\s+{answered}\s+0-2.2:", table), table


def test_report_command_prints_the_tables_and_draws_the_plot(course: Course) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "class_report.png"
    out = run(sys.executable, "-m", "persistlab.cli", "report", "--plot", str(png), cwd=course.root)
    assert "most common failure messages" in out and "distribution" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


# --- the formgrader, in JupyterLab, in headless Chromium (after the report: it grades by hand) ----------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO / "test-artifacts" / "formgrader"


@dataclass
class Formgrader:
    url: str
    token: str
    log: Path


@pytest.fixture(scope="module")
def formgrader(course: Course, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Formgrader]:
    """JupyterLab in the course folder, started from an environment holding the instructor's key."""
    import secrets
    import signal
    import socket
    import time
    import urllib.request

    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"{CHROMIUM} not found (apt-get install chromium)"
        if os.environ.get("PERSISTLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    tmp = tmp_path_factory.mktemp("formgrader")
    server = Formgrader(f"http://127.0.0.1:{port}", secrets.token_hex(16), tmp / "jupyter.log")
    (tmp / "config").mkdir()
    (tmp / "exchange").mkdir()
    # The instructor's own config says where the exchange is; the course's config must not override it.
    (tmp / "config" / "nbgrader_config.py").write_text(f'get_config().Exchange.root = "{tmp / "exchange"}"\n')
    env = {"JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    nbgrader("release_assignment", EXERCISE, "--force", cwd=course.root, env=env)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        **env,
        "OPENAI_API_KEY": FAKE_KEY,
        "PERSISTLAB_BACKEND": "openai",
    }
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={server.token}",
        f"--ServerApp.root_dir={course.root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
    ]  # window.jupyterapp: open notebooks without reloading the app
    if os.geteuid() == 0:
        command.append("--allow-root")
    with open(server.log, "wb") as log:
        process = subprocess.Popen(
            command, cwd=course.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, server.log.read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{server.url}/api/status?token={server.token}", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, server.log.read_text()[-3000:]
                time.sleep(0.5)
        yield server
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=10)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue


@pytest.fixture(scope="module")
def browser(formgrader: Formgrader) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(f"{formgrader.url}/api/status?token={formgrader.token}")  # logs in (cookie), not loading JupyterLab
        try:
            yield page
        finally:
            chromium.close()


def _shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.browser
def test_formgrader_lists_the_assignment_and_the_class_by_name(
    course: Course, formgrader: Formgrader, browser: Any
) -> None:
    browser.goto(f"{formgrader.url}/formgrader/manage_assignments")
    browser.get_by_role("link", name=EXERCISE).first.wait_for()
    _shot(browser, "1_assignments")
    assert "will not be available" not in browser.inner_text("body")  # no "release and collect unavailable" banner
    assert browser.locator("tr", has_text=EXERCISE).get_by_text("released", exact=True).is_visible()  # not "draft"
    browser.goto(f"{formgrader.url}/formgrader/manage_submissions/{EXERCISE}")
    browser.get_by_text("Lovelace, Ada").wait_for()
    _shot(browser, "2_submissions")
    body = browser.inner_text("body")
    assert "None, None" not in body and student("forgot_to_persist") in body


@pytest.mark.browser
def test_formgrader_autograde_button_passes_no_keys(course: Course, formgrader: Formgrader, browser: Any) -> None:
    """The button grades inside the Jupyter server, whose environment has the key."""
    graded = course.graded("hostile_reads_secrets")
    before = graded.stat().st_mtime
    browser.goto(f"{formgrader.url}/formgrader/manage_submissions/{EXERCISE}")
    row = browser.locator("tr", has_text=student("hostile_reads_secrets"))
    row.locator("td.autograde a").click()
    browser.get_by_text("Successfully autograded").wait_for(timeout=240_000)
    _shot(browser, "3_autograde_button")
    assert graded.stat().st_mtime > before
    lines = _printed(graded).splitlines()
    assert "{}" in lines and any(line.startswith("Backend: the offline simulator") for line in lines), lines


@pytest.mark.browser
def test_grading_a_written_answer_by_hand_reaches_the_export(
    course: Course, formgrader: Formgrader, browser: Any
) -> None:
    import csv

    from nbgrader.api import Gradebook

    solution = course.root / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"
    [written] = submissions.written_ids(solution)
    who = student("forgot_to_persist")
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gb:
        submission_id = gb.find_submission_notebook(EXERCISE, EXERCISE, who).id
    browser.goto(f"{formgrader.url}/formgrader/gradebook/{EXERCISE}/{EXERCISE}")
    browser.get_by_text("Loading, please wait...").wait_for(state="hidden")
    _shot(browser, "4_manual_grading_list")
    browser.goto(f"{formgrader.url}/formgrader/submissions/{submission_id}/")
    box = browser.locator(f"input.score#{written}")
    box.wait_for()
    browser.wait_for_load_state("networkidle")
    assert browser.get_by_text("For the grader", exact=True).is_visible()  # the rubric, beside the answer
    import time

    def saved() -> bool:
        with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gb:
            grade = next(g for g in gb.find_submission_notebook(EXERCISE, EXERCISE, who).grades if g.name == written)
            return grade.manual_score is not None

    deadline = time.monotonic() + 120
    while not saved():
        # the formgrader saves on change, once its script has bound the field: on a busy machine the first
        # change can come before that, so it is typed again until the gradebook has it
        assert time.monotonic() < deadline, "the formgrader did not save the score"
        box.fill("")
        box.fill("1.5")
        box.press("Tab")
        for _ in range(50):  # 10 s for this typing
            if saved():
                break
            time.sleep(0.2)
    _shot(browser, "5_written_answer_graded")
    out = run(sys.executable, "-m", "persistlab.cli", "export", "--to", "grades.csv", cwd=course.root)
    assert "grades.csv" in out
    with (course.root / "grades.csv").open(newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["student_id"] == who and r["assignment"] == EXERCISE)
    expected = submissions.load(EXERCISE, "forgot_to_persist", solution).expected
    assert float(row["score"]) == sum(v or 0.0 for v in expected.values()) + 1.5, row


@pytest.mark.browser
def test_each_exercise_opens_on_its_heading_and_points_table(
    course: Course, formgrader: Formgrader, browser: Any
) -> None:
    """What a learner sees first in JupyterLab: the rendered introduction (a heading and a real table)."""
    view = course.root / "learner_view"
    if not view.exists():
        shutil.copytree(REPO / "exercises", view)
    # JupyterLab loads once (?reset: a fresh workspace); each notebook opens in it, alone, as from the file browser
    browser.goto(f"{formgrader.url}/lab?reset")
    browser.wait_for_function("() => window.jupyterapp !== undefined")
    browser.evaluate("() => window.jupyterapp.restored")
    notebooks = sorted(view.glob("*/*.ipynb"))
    assert len(notebooks) == len(list((REPO / "exercises").glob("*/*.ipynb"))) > 1
    for notebook in notebooks:
        relative = notebook.relative_to(course.root).as_posix()
        panel = browser.evaluate(
            """async path => {
            const app = window.jupyterapp;
            const opened = await app.commands.execute('docmanager:open', {path});
            for (const widget of Array.from(app.shell.widgets('main'))) if (widget !== opened) widget.close();
            return opened.id;
        }""",
            relative,
        )
        intro = browser.locator(f'[id="{panel}"].jp-NotebookPanel:not(.lm-mod-hidden) .jp-MarkdownCell').first
        intro.locator("h1").wait_for()
        assert intro.locator("h1").inner_text().startswith("Exercise"), relative
        rows = intro.locator("table tr")
        assert rows.count() >= 4 and "total" in rows.last.inner_text(), relative
        assert intro.locator("pre").count() == 0, f"{relative}: part of the introduction renders as a code block"
        browser.screenshot(path=str(_shot_path(f"exercise_{notebook.stem}")))


def _shot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
