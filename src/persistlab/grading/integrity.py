"""Has the course's own metering and grading code been patched while the notebook ran?

The count a grading test trusts comes from a server in another process (:mod:`.counting`); this
module guards what still runs in the learner's process and belongs to the course: the usage meter
(a hostile submission that patches it must lose the points of every test that counts calls) and the
grading code itself. Each function and method of :data:`GUARDED_MODULES` is compared with a fresh
compile of its own source file, taken the first time it is checked (so an edit of the file on disk
while the kernel runs is not tampering). Only the course's own modules are guarded: other
libraries' code is never recompiled or inspected.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import types
from pathlib import Path
from typing import Any

from persistlab.learning import meter

GUARDED_MODULES: tuple[str, ...] = (
    "persistlab",
    "persistlab.simulator.endpoints",
    "persistlab.learning.meter",
    "persistlab.grading",
    "persistlab.grading.counting",
    "persistlab.grading.integrity",
)
"""Modules whose functions and methods must match their source files (as first checked)."""

_REFERENCE: dict[str, dict[str, list[types.CodeType]]] = {}
"""Each guarded module's functions and methods, compiled from its source file when first checked."""

_MISSING = object()


class TamperingError(AssertionError):
    """The course's metering or grading code was changed while the notebook ran.

    An ``AssertionError``, so nbgrader reports the test as failed (not errored) with this message.
    """


def _code_objects(code: types.CodeType, found: dict[str, list[types.CodeType]]) -> dict[str, list[types.CodeType]]:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found.setdefault(const.co_qualname, []).append(const)
            _code_objects(const, found)
    return found


def _codes_of(obj: Any) -> list[types.CodeType]:
    """The code objects behind a module or class attribute (through decorators and descriptors)."""
    if isinstance(obj, property):
        return [c for f in (obj.fget, obj.fset, obj.fdel) if f is not None for c in _codes_of(f)]
    if isinstance(obj, (staticmethod, classmethod)):
        return _codes_of(obj.__func__)
    if isinstance(obj, functools.cached_property):
        return _codes_of(obj.func)
    try:
        obj = inspect.unwrap(obj)
    except ValueError:  # a wrapper cycle
        return []
    code = getattr(obj, "__code__", None)
    return [code] if isinstance(code, types.CodeType) else []


def _reference_of(name: str) -> tuple[types.ModuleType, dict[str, list[types.CodeType]]]:
    """A guarded module and its code as first compiled from its source file."""
    module = sys.modules.get(name) or importlib.import_module(name)
    if name not in _REFERENCE:
        path = Path(module.__file__ or "")
        _REFERENCE[name] = _code_objects(compile(path.read_bytes(), str(path), "exec", dont_inherit=True), {})
    return module, _REFERENCE[name]


def _differences_from_source(module: types.ModuleType, expected: dict[str, list[types.CodeType]]) -> list[str]:
    """Names of the module's functions and methods whose code is not in ``expected`` (its compiled source)."""
    problems = []
    for qualname, codes in expected.items():
        if "<" in qualname:  # lambdas, comprehensions, functions defined inside functions
            continue
        owner: Any = module
        parts = qualname.split(".")
        for part in parts[:-1]:
            owner = vars(owner).get(part, _MISSING) if hasattr(owner, "__dict__") else _MISSING
            if owner is _MISSING:
                break
        if owner is _MISSING or not isinstance(owner, (type, types.ModuleType)):
            continue  # a class defined conditionally, or replaced (its own methods are then reported)
        live = vars(owner).get(parts[-1], _MISSING)
        if live is _MISSING:
            if owner is module:  # a top-level function that was deleted
                problems.append(f"{module.__name__}.{qualname} is missing")
            continue
        if isinstance(live, type):
            continue  # a class body: its methods are checked one by one
        live_codes = _codes_of(live)
        if not live_codes or any(c not in codes for c in live_codes):
            problems.append(f"{module.__name__}.{qualname}")
    return problems


def check_meter_integrity() -> None:
    """Raise :class:`TamperingError` if the course's meter or grading code was replaced or patched.

    Compares every function and method of :data:`GUARDED_MODULES` with its source file, and checks
    that ``persistlab.usage``, ``persistlab.metered`` and ``persistlab.learning.meter`` are still the meter's own objects.
    """
    problems: list[str] = []
    for name in GUARDED_MODULES:
        problems += _differences_from_source(*_reference_of(name))
    package = sys.modules["persistlab"]
    if sys.modules["persistlab.learning.meter"] is not meter or vars(package).get("meter", meter) is not meter:
        problems.append("persistlab.learning.meter (the module was replaced)")
    for name in ("usage", "metered", "Usage"):
        if vars(package).get(name) is not vars(meter).get(name):
            problems.append(f"persistlab.{name} (no longer the meter's own)")
    if type(meter.usage) is not meter.Usage or not isinstance(vars(meter).get("_scopes"), list):
        problems.append("persistlab.learning.meter.usage or its open blocks (replaced)")
    if problems:
        shown = ", ".join(problems[:6]) + (f" and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise TamperingError(
            f"Code the grader relies on was changed while this notebook ran: {shown}. "
            "Remove the code that replaces or patches it (or reloads the module), restart the kernel and run all cells."
        )
