"""Shared test set-up for tests/ and the notebooks nbval runs.

No test may open a connection outside loopback, and notebook kernels (which inherit this
environment) run offline, quietly and reproducibly.
"""

from __future__ import annotations

import os

import pytest

from persistlab import netguard
from persistlab.notebooks import NOTEBOOK_ENV


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nbgrader: runs the real nbgrader CLI (slow)")
    config.addinivalue_line("markers", "browser: drives headless Chromium against a local JupyterLab")
    os.environ.update(NOTEBOOK_ENV)
    netguard.install()
