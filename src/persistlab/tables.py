"""Plain-text tables and progress times for the command line."""

from __future__ import annotations

import time
from collections.abc import Sequence


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of strings as left-aligned columns (the first row is the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def elapsed(start: float) -> str:
    """Seconds since ``start`` (a ``time.monotonic()``), for progress lines."""
    return f"{time.monotonic() - start:.0f} s"
