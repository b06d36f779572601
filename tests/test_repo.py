"""Repository-level promises: the lock, environment.yml, the README's commands, lesson structure."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
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


def test_lab_command_serves_the_start_page(tmp_path: Path) -> None:
    """The README's first command starts JupyterLab on loopback and sends the browser to the start page."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "BROWSER": "true"}
    cmd = [sys.executable, str(ROOT / "course.py"), "lab", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           "--ServerApp.ip=127.0.0.1", "--ServerApp.token=course-test", "--LabApp.news_url=None"]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/api/contents/{course.START_PAGE}?content=0&token=course-test"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    assert json.load(response)["name"] == "00_start_here.ipynb"
                    break
            except OSError:
                assert server.poll() is None, "python3 course.py lab exited early"
                assert time.monotonic() < deadline, "JupyterLab did not answer within 60 s"
                time.sleep(0.5)
        opened = "".join(p.read_text() for p in tmp_path.glob("jpserver-*-open.html"))
        assert f"lab/tree/{course.START_PAGE}" in opened, "the browser is not sent to the start page"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
