"""Grade reference submissions the way nbgrader's autograder scores them, without a kernel per submission.

``nbgrader autograde`` puts the locked and test cells back from the gradebook (hidden tests included),
runs every code cell in a fresh kernel and gives each test cell its points if it raised nothing. Here
the same cells run in processes forked from :mod:`zygote`, which has imported the libraries once: the
~4 s of imports each kernel pays, and nbgrader's own start-ups, are paid once. The real nbgrader path
keeps what only it can check (hostile submissions, restored cells, feedback, the gradebook);
tests/test_grading_forked.py checks that both paths give identical points where both run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import submissions

from persistlab.classroom.cycle import graded_code_env

ZYGOTE = Path(__file__).with_name("zygote.py")


@dataclass
class Result:
    points: dict[str, float | None]
    """Points per graded cell; written answers (graded by hand) are ``None``, as autograde leaves them."""
    failures: dict[str, str]
    error: str | None


def written_answers(submitted: dict[str, Any], release: Path) -> dict[str, float | None]:
    """Autograde's score of each written answer: 0 if left as released, else ``None`` (graded by hand)."""
    released = {submissions.grade_id(c): "".join(c["source"]) for c in submissions.cells(release)}
    return {
        meta["grade_id"]: 0.0 if "".join(cell["source"]) == released[meta["grade_id"]] else None
        for cell in submitted["cells"]
        if cell["cell_type"] == "markdown" and (meta := cell.get("metadata", {}).get("nbgrader", {})).get("grade")
    }


def autograded_cells(submitted: dict[str, Any], solution: Path) -> list[list[Any]]:
    """``[source, grade_id, points]`` of each code cell nbgrader would run for ``submitted``: its own
    cells, except that locked and test cells get the solution's source back (hidden tests included)."""
    sources = {submissions.grade_id(c): "".join(c["source"]) for c in submissions.cells(solution)}
    out = []
    for cell in submitted["cells"]:
        if cell["cell_type"] != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell["source"])
        if meta.get("locked") or (meta.get("grade") and not meta.get("solution")):
            source = sources[meta["grade_id"]]
        out.append([source, meta.get("grade_id") if meta.get("grade") else None, meta.get("points")])
    return out


def grade(
    cases: list[tuple[str, str]], solutions: Path, releases: Path, jobs: int = 2, timeout_s: int = 180
) -> dict[tuple[str, str], Result]:
    """``{(exercise, submission): Result}`` for each case, graded in forks of one zygote."""
    work = Path(tempfile.mkdtemp(prefix="forked-grading-"))
    requests, written = [], {}
    for exercise, name in cases:
        solution = solutions / exercise / f"{exercise}.ipynb"
        release = releases / exercise / f"{exercise}.ipynb"
        submitted = submissions.build(submissions.load(exercise, name, solution), release, solution)
        workdir = work / exercise / name
        shutil.copytree(release.parent, workdir, ignore=shutil.ignore_patterns(release.name))  # quizzes/ etc.
        key = f"{exercise}/{name}"
        requests.append(
            json.dumps(
                {
                    "id": key,
                    "cells": autograded_cells(submitted, solution),
                    "workdir": str(workdir),
                    "timeout": timeout_s,
                }
            )
        )
        written[key] = written_answers(submitted, release)
    done = subprocess.run(
        [sys.executable, str(ZYGOTE), str(jobs)],
        input="\n".join(requests) + "\n",
        capture_output=True,
        text=True,
        env=graded_code_env(),
        cwd=work,
        timeout=timeout_s * len(requests),
    )
    assert done.returncode == 0, f"the zygote failed:\n{done.stderr[-4000:]}"
    results = {}
    for line in done.stdout.splitlines():
        data = json.loads(line)
        exercise, name = data["id"].split("/")
        points: dict[str, float | None] = {**data["points"], **written[data["id"]]}
        results[exercise, name] = Result(points, data["failures"], data["error"])
    assert set(results) == set(cases), f"no answer for {sorted(set(cases) - set(results))}:\n{done.stderr[-4000:]}"
    return results
