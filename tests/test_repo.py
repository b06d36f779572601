"""Repository-level promises: the dependency groups and their locks, environment.yml, the README's commands (lesson structure: test_curriculum.py)."""

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
from helpers import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

sys.path.insert(0, str(REPO))
import course  # noqa: E402

LESSONS = sorted((REPO / "lessons").glob("[0-9][0-9]_*.ipynb"))


def _pyproject() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10: pytest brings tomli
        import tomli as tomllib
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _group(name: str) -> list[Requirement]:
    """The requirements of a dependency group, included groups expanded (PEP 735)."""
    out = []
    for item in _pyproject()["dependency-groups"][name]:
        out += _group(item["include-group"]) if isinstance(item, dict) else [Requirement(item)]
    return out


def locked_pins(group: str) -> list[str]:
    """The requirement lines of a group's exported lock (name==version, with markers), in order."""
    lines = course.LOCKS[group].read_text().splitlines()
    return [line.strip() for line in lines if re.match(r"^[A-Za-z0-9]", line)]


def _locked_versions(group: str) -> dict[str, list[tuple[str, str]]]:
    """``{name: [(version, marker), ...]}`` from a group's lock (one package can have a version per Python)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for pin in locked_pins(group):
        requirement, _, marker = pin.partition(" ; ")
        name, version = requirement.split("==")
        out.setdefault(canonicalize_name(name.split("[")[0]), []).append((version, marker))
    return out


@pytest.mark.parametrize("group", sorted(course.LOCKS))
def test_every_lock_line_is_an_exact_pin(group: str) -> None:
    pins = locked_pins(group)
    assert len(pins) > 100
    loose = [p for p in pins if not re.match(r"^[A-Za-z0-9._\[\],-]+==[^=<>~!;]+( ; .+)?$", p)]
    assert not loose, f"{course.LOCKS[group].name} has unpinned lines: {loose}"


@pytest.mark.parametrize("group", sorted(course.LOCKS))
def test_every_direct_dependency_is_locked_within_its_range(group: str) -> None:
    """A dependency added to pyproject.toml, or a raised lower bound, fails here until `python3 course.py lock`."""
    locked = _locked_versions(group)
    wanted = _group(group) + [Requirement(r) for r in _pyproject()["project"]["dependencies"]]
    for requirement in wanted:
        versions = locked.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is not in {course.LOCKS[group].name}: run `python3 course.py lock`"
        outside = [v for v, _ in versions if not requirement.specifier.contains(v, prereleases=True)]
        assert not outside, (
            f"{course.LOCKS[group].name} has {requirement.name} {outside}, outside {requirement}: lock again"
        )


@pytest.mark.parametrize(("smaller", "larger"), [("lab", "test"), ("test", "bench")])
def test_each_environment_is_the_one_before_plus_its_own_tools(smaller: str, larger: str) -> None:
    small, large = set(locked_pins(smaller)), set(locked_pins(larger))
    assert small < large, f"pins of the {smaller} lock missing from the {larger} lock: {sorted(small - large)[:5]}"
    small_names = set(_locked_versions(smaller))
    own = {canonicalize_name(r.name) for r in _group(larger)} - {canonicalize_name(r.name) for r in _group(smaller)}
    assert own and not own & small_names, f"{larger} tools in the {smaller} lock: {own & small_names}"


def test_excluded_dependencies_are_in_no_lock() -> None:
    excluded = {canonicalize_name(n) for n in _pyproject()["tool"]["uv"]["exclude-dependencies"]}
    for group in course.LOCKS:
        assert excluded and not excluded & set(_locked_versions(group)), group


def test_environment_yml_offers_the_learners_pinned_set() -> None:
    text = (REPO / "environment.yml").read_text()
    assert re.findall(r'^      - "(.+)"$', text, re.M) == ["-r requirements-lab.lock", "-e ."]


def test_uv_is_locked_in_the_learners_set() -> None:
    """course.py installs uv from PyPI at uv.lock's version; `uv sync` would otherwise replace or remove it."""
    assert course.uv_pin().startswith("uv==") and course.uv_pin() in locked_pins("lab")


def test_dependencies_are_listed_in_pyproject_only() -> None:
    """requirements.in is gone: a line added to it (say, by a merge) would be silently ignored."""
    stale = [name for name in ("requirements.in", "requirements.lock") if (REPO / name).exists()]
    assert not stale, f"{stale}: move these dependencies into [dependency-groups] in pyproject.toml and lock again"


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^python3 course\.py (\w+)$", readme[:600], re.M)
    assert commands[:2] == ["lab", "test"], readme[:600]
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^python3 course\.py test\b", ci, re.M), ".ci/run must call the README's test command"


def test_there_is_a_start_page_and_lessons() -> None:
    assert (REPO / course.START_PAGE).is_file()
    assert len(LESSONS) >= 6, [p.name for p in LESSONS]


def test_lab_command_serves_the_start_page(tmp_path: Path) -> None:
    """The README's first command starts JupyterLab on loopback and sends the browser to the start page."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "BROWSER": "true"}
    cmd = [
        sys.executable,
        str(REPO / "course.py"),
        "lab",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.token=course-test",
        "--LabApp.news_url=None",
    ]
    server = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
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


def test_every_module_run_first_exists() -> None:
    """conftest.py orders these first by path: a renamed module would silently go back to the end of the run."""
    import conftest

    assert [p for p in conftest.RUN_FIRST if not (REPO / p).is_file()] == []
