"""What many test modules share: where the course is, the instructor's key, and running the ``persistlab`` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
"""The course's folder (the clone the tests run in)."""

FAKE_KEY = "sk-instructors-key-must-not-reach-submissions"
"""An instructor's API key set while grading: a test fails if it reaches graded code, its outputs or feedback."""


def student(name: str) -> str:
    """The student id of a reference submission: LMS file names use "_" to separate the student from the rest."""
    return name.replace("_", "-")


def persistlab(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the ``persistlab`` command line in ``cwd``, as an instructor would."""
    return subprocess.run(
        [sys.executable, "-m", "persistlab.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that must have succeeded."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout
