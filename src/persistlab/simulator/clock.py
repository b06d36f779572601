"""Virtual time: retries that back off for a minute finish at once, and still see a minute pass.

The ``openai`` client and LlamaIndex's retry decorator (tenacity) both wait with ``time.sleep`` and measure
with ``time.monotonic``, looked up on the ``time`` module when they run. Inside :func:`virtual_time` those
two (and ``time.time``) are replaced, for the calling thread only, by a clock that moves on by each sleep
instead of waiting::

    with virtual_time() as clock:
        model.get_text_embedding("salt")        # during an outage: the clients' full backoff
    print(clock.waited, clock.wall)             # seconds the retries waited, and the wall time

What it reaches: every ``time.sleep`` / ``time.monotonic`` / ``time.time`` call made through the ``time``
module by the thread that opened the block. What it does not: other threads (a thread pool's workers
sleep for real), async code (``asyncio.sleep`` and ``anyio.sleep`` wait on the event loop), and code that
imported the functions themselves (``from time import sleep``).

Jitter is drawn from :mod:`random`'s shared generator by both retry layers; the block seeds it (``seed=``)
and puts its state back on exit, so a notebook shows the same waits on every run.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import SupportsIndex

_real_sleep = time.sleep
_real_monotonic = time.monotonic
_real_time = time.time

_local = threading.local()
_install_lock = threading.Lock()
_installed = 0
_skipped_lock = threading.Lock()
_skipped_total = 0.0


@dataclass
class VirtualClock:
    """What one :func:`virtual_time` block skipped: ``sleeps`` (seconds each), ``waited`` and ``wall`` seconds."""

    sleeps: list[float] = field(default_factory=list)
    wall: float = 0.0
    started: float = field(default_factory=_real_monotonic)

    @property
    def waited(self) -> float:
        """Seconds the retrying code asked to sleep: the time the real stack would have spent waiting."""
        return sum(self.sleeps)

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the block opened: work done plus every wait skipped."""
        return (self.wall or _real_monotonic() - self.started) + self.waited

    def summary(self) -> str:
        return f"{len(self.sleeps)} waits, {self.waited:.1f} s of virtual time, {self.wall:.2f} s of wall time"


def skipped_seconds() -> float:
    """Seconds of sleep skipped by every virtual clock since the process started (for meters)."""
    with _skipped_lock:
        return _skipped_total


def is_virtual() -> bool:
    """Whether the calling thread is inside a :func:`virtual_time` block."""
    return bool(getattr(_local, "clocks", None))


def _offset() -> float:
    return getattr(_local, "offset", 0.0)


def _sleep(secs: float | SupportsIndex) -> None:
    seconds = float(secs)
    clocks = getattr(_local, "clocks", None)
    if not clocks:
        _real_sleep(seconds)
        return
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    global _skipped_total
    _local.offset = _offset() + seconds
    for clock in clocks:
        clock.sleeps.append(seconds)
    with _skipped_lock:
        _skipped_total += seconds


def _monotonic() -> float:
    return _real_monotonic() + _offset()


def _time() -> float:
    return _real_time() + _offset()


def advance(seconds: float) -> None:
    """Let ``seconds`` pass: skipped inside a :func:`virtual_time` block, slept for real outside one."""
    time.sleep(seconds)


@contextlib.contextmanager
def virtual_time(seed: int | None = 0) -> Iterator[VirtualClock]:
    """Inside the block, this thread's sleeps return at once and its clocks move on by them.

    ``seed`` seeds :mod:`random` for the block (``None`` leaves it alone); blocks may nest.
    """
    global _installed
    clock = VirtualClock()
    state = random.getstate() if seed is not None else None
    if seed is not None:
        random.seed(seed)
    with _install_lock:
        if _installed == 0:
            time.sleep, time.monotonic, time.time = _sleep, _monotonic, _time
        _installed += 1
    clocks: list[VirtualClock] = getattr(_local, "clocks", None) or []
    _local.clocks = [*clocks, clock]
    try:
        yield clock
    finally:
        clock.wall = _real_monotonic() - clock.started
        _local.clocks = clocks
        if not clocks:
            _local.offset = 0.0
        with _install_lock:
            _installed -= 1
            if _installed == 0:
                time.sleep, time.monotonic, time.time = _real_sleep, _real_monotonic, _real_time
        if state is not None:
            random.setstate(state)
