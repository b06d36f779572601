"""What every graded run shares: the environment graded code runs in, and the error names of cells it could not run.

The one definition for ``persistlab autograde``, the execute preprocessor of every grading kernel
(:class:`persistlab.classroom.preprocessors.RobustExecute`) and the learner's self-check.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from persistlab.config import BACKEND_ENV, SIMULATOR
from persistlab.maintainers.notebooks import NOTEBOOK_ENV

GRADING_ENV = {**NOTEBOOK_ENV, BACKEND_ENV: SIMULATOR}
"""Submissions run offline on the simulator, quietly, whatever the shell they are graded from says."""

SECRET_NAME = re.compile(r"^(OPENAI|ANTHROPIC|AWS|AZURE|GOOGLE|GCP|HF)_|(KEY|TOKEN|SECRET|PASSWORD|CREDENTIALS)$")
"""Environment variables not passed to graded code: a submission must not be able to read your keys."""


def graded_code_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment graded code runs in: ``base`` (default ``os.environ``) without the variables
    :data:`SECRET_NAME` matches, plus :data:`GRADING_ENV` (offline simulator, quiet, reproducible).

    The one definition every grading path uses: ``persistlab autograde`` for the nbgrader processes
    it starts, and :class:`persistlab.classroom.preprocessors.RobustExecute` for every kernel it starts
    (plain ``nbgrader autograde`` and the formgrader's Autograde button included).
    """
    env = {
        name: value for name, value in (os.environ if base is None else base).items() if not SECRET_NAME.search(name)
    }
    env.update(GRADING_ENV)
    return env


KERNEL_DIED, STUCK, NOT_RUN = "KernelDied", "CellTimeoutError", "NotRun"
"""Error names a graded cell gets when the kernel died in it, it outlived the time limit, or it was not run."""
PROBLEM_ENAMES = {KERNEL_DIED: "kernel died", STUCK: "timed out", NOT_RUN: "not run"}
