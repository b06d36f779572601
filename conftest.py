"""Shared test set-up for tests/ and the notebooks nbval runs.

No test may open a connection outside loopback, and notebook kernels (which inherit this
environment) run offline, quietly and reproducibly.

Parallel runs (``-n auto --dist loadgroup``, as ``course.py test`` runs them) keep each file on one
worker, so the cells of a notebook run in order in one kernel and a module-scoped fixture runs once;
a test marked ``xdist_group`` goes with its group instead, which lets a slow module spread its
expensive set-ups (one per group) over several workers.
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


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
