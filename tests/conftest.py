"""Shared test set-up: no test may open a connection outside loopback."""

from __future__ import annotations

import pytest

from persistlab import netguard


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "nbgrader: runs the real nbgrader CLI (slow)")
    config.addinivalue_line("markers", "browser: drives headless Chromium against a local JupyterLab")
    netguard.install()
