"""A lesson's quiz works for a learner in a real browser.

Starts JupyterLab from this virtual environment on a copy of ``lessons/`` and drives Debian's headless
Chromium with Playwright: open the lesson, run all cells, check that no quiz cell shows an explanation
or a model answer before Check, answer the first single-choice quiz wrongly and then rightly, and
check the feedback the learner reads and the progress file. The expected feedback comes from the
lesson's quiz file (``quizzes/<stem>.json``, read here as ``Quiz.show`` reads it), so the test
follows the lesson's wording. Nothing downloads a browser: without ``/usr/bin/chromium`` the test is
skipped (``apt-get install chromium``), or fails when ``PERSISTLAB_REQUIRE_BROWSER=1`` (CI).

A screenshot of the first quiz before Check and a full-page one after the answers are kept in
``test-artifacts/browser/``.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from persistlab.learning import progress
from persistlab.learning.quiz import Quiz
from persistlab.maintainers.notebooks import NOTEBOOK_ENV

pytestmark = pytest.mark.browser

LESSON = "01_why_persist"
CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER_ENV = "PERSISTLAB_REQUIRE_BROWSER"
ARTIFACTS = REPO / "test-artifacts" / "browser"
# Flags for a closed network: no background requests, no first-run work, no GPU, no sandbox (root in CI).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Waits, in seconds; a normal run of the whole module takes under a minute on 2 cores.
SERVER_START_S = 90  # a busy 2-core machine took over 40 s
PAGE_LOAD_S = 30
RUN_ALL_S = 90
FEEDBACK_S = 15


# --- the quiz under test, read from the lesson --------------------------------------------------


def lesson_quizzes(notebook: Path) -> list[Quiz]:
    """The notebook's quizzes, read from its quiz file (``quizzes/<stem>.json``) as ``Quiz.show`` reads them."""
    quizzes = list(Quiz.from_file(progress.quiz_file(notebook)))
    assert quizzes, f"{notebook} has no quizzes; the browser test needs them."
    return quizzes


def first_single_quiz(notebook: Path) -> Quiz:
    for quiz in lesson_quizzes(notebook):
        if quiz.kind == "single":
            return quiz
    raise AssertionError(f"{notebook} has no single-choice quiz; the browser test needs one.")


def secrets_of(quiz: Quiz) -> list[str]:
    """What must not be on screen before Check: every explanation and the model answer, as the page shows text."""
    texts = [c.why for c in quiz.choices] + ([quiz.model_answer] if quiz.model_answer else [])
    return [" ".join(text.replace("`", "").split()) for text in texts]


def shown_text(widget_html: str) -> str:
    """The text a browser shows for the feedback HTML, whitespace collapsed."""
    text = re.sub(r"<br\s*/?>", " ", widget_html)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


@dataclass(frozen=True)
class Expected:
    quiz: Quiz
    wrong_label: str
    wrong_feedback: str
    right_label: str
    right_feedback: str


def expected_feedback(notebook: Path, scratch_progress: Path, monkeypatch: pytest.MonkeyPatch) -> Expected:
    """Answer the lesson's quiz here, as the Check button will in the browser, to learn what it must show."""
    monkeypatch.setenv(progress.PROGRESS_FILE_ENV, str(scratch_progress))
    quiz = first_single_quiz(notebook)
    labels = dict(zip(quiz.letters, quiz.labels))
    wrong = next(letter for letter, c in zip(quiz.letters, quiz.choices) if not c.correct)
    right = next(letter for letter, c in zip(quiz.letters, quiz.choices) if c.correct)
    texts = {}
    for letter in (wrong, right):
        quiz.answer(letter)
        texts[letter] = shown_text(quiz.feedback_area.value)
        why = " ".join(quiz.choices[quiz.letters.index(letter)].why.replace("`", "").split())
        assert why in texts[letter], f"feedback for {letter} should explain the option: {texts[letter]!r}"
    return Expected(quiz, labels[wrong], texts[wrong], labels[right], texts[right])


# --- fixtures: browser, Jupyter server ----------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Path:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = (
        f"{CHROMIUM} not found; install Debian's Chromium with `apt-get install chromium` "
        "(never `playwright install`: nothing here downloads a browser)."
    )
    if os.environ.get(REQUIRE_BROWSER_ENV) == "1":
        pytest.fail(f"{reason} {REQUIRE_BROWSER_ENV}=1 says the browser test must run here.")
    pytest.skip(reason)


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    root_dir: Path
    progress_file: Path
    log: Path

    def api(self, method: str, path: str) -> object:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def clear_outputs(notebook: Path) -> None:
    """Drop stored outputs and counts, so what the page shows after Run All comes from the live kernel."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook.write_text(json.dumps(nb, indent=1), encoding="utf-8")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Terminate the server and its kernels (its process group); kill after 10 s."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def jupyter(chromium: Path) -> Iterator[Server]:
    """JupyterLab (which also serves Notebook 7) on 127.0.0.1 over a temporary copy of lessons/."""
    with tempfile.TemporaryDirectory(prefix="persistlab-browser-", ignore_cleanup_errors=True) as tmp:
        tmp_dir = Path(tmp)
        root_dir = tmp_dir / "lessons"
        shutil.copytree(REPO / "lessons", root_dir, ignore=shutil.ignore_patterns("storage", ".ipynb_checkpoints"))
        for notebook in root_dir.glob("*.ipynb"):
            clear_outputs(notebook)
        server = Server(
            url=f"http://127.0.0.1:{free_port()}",
            token=secrets.token_hex(16),
            root_dir=root_dir,
            progress_file=tmp_dir / "progress.json",
            log=tmp_dir / "jupyter.log",
        )
        config_dir, runtime_dir = tmp_dir / "config", tmp_dir / "runtime"
        # User settings live under the config dir: never ask "receive Jupyter news?" (a toast over the page).
        notification = config_dir / "lab/user-settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
        notification.parent.mkdir(parents=True)
        notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8")
        env = {
            **os.environ,
            **NOTEBOOK_ENV,  # offline, network guard on, quiet, as CI runs notebooks
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "JUPYTER_CONFIG_DIR": str(config_dir),  # the user's own settings and workspaces stay out
            "JUPYTER_RUNTIME_DIR": str(runtime_dir),
            progress.PROGRESS_FILE_ENV: str(server.progress_file),
        }
        command = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={server.url.rsplit(':', 1)[1]}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={server.token}",
            f"--ServerApp.root_dir={root_dir}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        with open(server.log, "wb") as log:
            process = subprocess.Popen(
                command, cwd=root_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            deadline = time.monotonic() + SERVER_START_S
            while True:
                if process.poll() is not None:
                    pytest.fail(f"Jupyter exited with code {process.returncode} at start:\n{server.log_tail()}")
                try:
                    server.api("GET", "/api/status")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"Jupyter did not answer within {SERVER_START_S} s:\n{server.log_tail()}")
                    time.sleep(0.25)
            yield server
        finally:
            stop(process)


@pytest.fixture(scope="module")
def browser_context(chromium: Path) -> Iterator[BrowserContext]:
    """Headless Chromium with a fresh profile, driven by Playwright (which downloads nothing here)."""
    with tempfile.TemporaryDirectory(prefix="persistlab-chromium-", ignore_cleanup_errors=True) as profile:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(chromium),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 1000},
            )
            try:
                yield context
            finally:
                context.close()


@pytest.fixture
def page(browser_context: BrowserContext, jupyter: Server) -> Iterator[Page]:
    """A new tab; afterwards the tab is closed and every kernel it started is shut down."""
    tab = browser_context.new_page()
    tab.set_default_timeout(FEEDBACK_S * 1000)
    try:
        yield tab
    finally:
        tab.close()
        with contextlib.suppress(OSError):  # a dead server has no kernels left to stop
            for session in jupyter.api("GET", "/api/sessions") or []:
                jupyter.api("DELETE", f"/api/sessions/{session['id']}")


# --- the learner's steps --------------------------------------------------------------------------


def run_all_cells(page: Page, server: Server, code_cells: int) -> None:
    """Run → Run All Cells, then wait until every code cell shows an execution count and the kernel is idle."""
    wait_for_kernel(server)
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    try:
        page.wait_for_function(
            """n => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                return prompts.length === n && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            arg=code_cells,
            timeout=RUN_ALL_S * 1000,
            polling=250,
        )
    except PlaywrightTimeout:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_text_contents()
        pytest.fail(
            f"Run All Cells did not finish within {RUN_ALL_S} s ({code_cells} code cells; prompts now: {prompts}). "
            f"A cell may have failed or hung. Jupyter log:\n{server.log_tail()}"
        )
    wait_for_kernel(server)


def wait_for_kernel(server: Server) -> None:
    """Wait until the page's kernel is connected and idle.

    Run All pressed before the page has connected to its new kernel clears the cells and runs nothing
    (seen here in early runs), and the page's status dot says "idle" before it connects, so ask the
    server instead: one session, its kernel connected and idle.
    """
    deadline = time.monotonic() + PAGE_LOAD_S
    while True:
        sessions = server.api("GET", "/api/sessions") or []
        kernels = [s["kernel"] for s in sessions if s.get("kernel")]
        if len(kernels) == 1 and kernels[0]["connections"] >= 1 and kernels[0]["execution_state"] == "idle":
            return
        if time.monotonic() > deadline:
            pytest.fail(f"No idle, connected kernel within {PAGE_LOAD_S} s: {sessions}\n{server.log_tail()}")
        time.sleep(0.25)


def answer(
    page: Page, server: Server, quiz: Quiz, label: str, feedback_text: str, correct: bool, attempts: int
) -> None:
    """Pick ``label``, press Check, then check the feedback the learner reads and the progress file."""
    widget = page.locator(f".{quiz.css_id}")
    widget.scroll_into_view_if_needed()
    expect(widget).to_be_visible()
    widget.get_by_role("radio", name=label, exact=True).check()
    widget.locator(".persistlab-quiz-check").click()
    feedback = widget.locator(".persistlab-quiz-feedback")
    shown, hidden = ("persistlab-quiz-correct", "persistlab-quiz-wrong")[:: 1 if correct else -1]
    expect(feedback).to_have_class(re.compile(rf"\b{shown}\b"), timeout=FEEDBACK_S * 1000)
    expect(feedback).not_to_have_class(re.compile(rf"\b{hidden}\b"))
    expect(feedback).to_have_text(feedback_text, use_inner_text=True)
    # The kernel records the answer before it sends the feedback, so the file is up to date now.
    assert server.progress_file.is_file(), f"Check wrote no progress file at {server.progress_file}"
    record = json.loads(server.progress_file.read_text(encoding="utf-8"))["quizzes"].get(quiz.id)
    assert record is not None, f"{server.progress_file} has no record of quiz {quiz.id} after Check"
    assert (record["correct"], record["attempts"]) == (correct, attempts), record


def assert_no_answer_on_screen(page: Page, quizzes: list[Quiz]) -> None:
    """Each quiz's cell (its code and its output) and the whole page show none of its explanations or answers."""
    for quiz in quizzes:
        widget = page.locator(f".{quiz.css_id}")
        widget.scroll_into_view_if_needed()
        expect(widget).to_be_visible()
        expect(widget.locator(".persistlab-quiz-question")).to_contain_text(quiz.question.replace("`", "")[:40])
        cell = page.locator(".jp-Cell", has=widget)
        shown = " ".join(cell.inner_text().split())
        assert f'Quiz.show("{quiz.id}")' in shown, f"the cell of {quiz.id} shows: {shown[:300]!r}"
        for secret in secrets_of(quiz):
            assert secret not in shown, f"before Check, the cell of {quiz.id} shows {secret!r}"
        assert "correct" not in cell.locator(".jp-InputArea").inner_text().lower(), f"the code of {quiz.id}"
    page_text = " ".join(page.locator("body").inner_text().split())
    for quiz in quizzes:
        for secret in secrets_of(quiz):
            assert secret not in page_text, f"before Check, the page shows {secret!r} ({quiz.id})"


def attempts_so_far(server: Server, quiz_id: str) -> int:
    record = progress.load(server.progress_file).quizzes.get(quiz_id)
    return record.attempts if record else 0


def quiz_flow(page: Page, server: Server, url: str, ui: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Open the lesson at ``url``, run it, answer its quiz wrongly then rightly, keep a screenshot."""
    notebook = server.root_dir / f"{LESSON}.ipynb"
    expected = expected_feedback(notebook, tmp_path / "scratch-progress.json", monkeypatch)
    code_cells = sum(c["cell_type"] == "code" for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"])
    before = attempts_so_far(server, expected.quiz.id)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(url, timeout=PAGE_LOAD_S * 1000)
        run_all_cells(page, server, code_cells)
        assert_no_answer_on_screen(page, lesson_quizzes(notebook))
        page.locator(f".{expected.quiz.css_id}").scroll_into_view_if_needed()
        page.screenshot(path=ARTIFACTS / f"{LESSON}-{ui}-before-check.png")
        answer(page, server, expected.quiz, expected.wrong_label, expected.wrong_feedback, False, before + 1)
        answer(page, server, expected.quiz, expected.right_label, expected.right_feedback, True, before + 2)
    except BaseException:
        with contextlib.suppress(Exception):  # keep the original error if the page is gone too
            page.screenshot(path=ARTIFACTS / f"{LESSON}-{ui}-failure.png", full_page=True)
        raise
    page.screenshot(path=ARTIFACTS / f"{LESSON}-quiz{'' if ui == 'lab' else '-' + ui}.png", full_page=True)


def test_quiz_feedback_and_progress_in_jupyterlab(page: Page, jupyter: Server, tmp_path, monkeypatch):
    url = f"{jupyter.url}/lab/tree/{LESSON}.ipynb?reset&token={jupyter.token}"
    quiz_flow(page, jupyter, url, "lab", tmp_path, monkeypatch)


def test_quiz_feedback_and_progress_in_notebook7(page: Page, jupyter: Server, tmp_path, monkeypatch):
    url = f"{jupyter.url}/notebooks/{LESSON}.ipynb?token={jupyter.token}"
    quiz_flow(page, jupyter, url, "notebook7", tmp_path, monkeypatch)
