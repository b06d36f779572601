"""Injectable faults: make the simulated OpenAI service fail the way the real one sometimes does.

Four kinds, answered before the simulator sees the request, with the real service's body and headers:

- ``rate_limit``: status 429 (``openai.RateLimitError``) with the ``x-ratelimit-*`` headers and a
  ``retry-after`` in seconds (``retry_after=``: 1 by default, whole seconds as the real service sends;
  0 sends none; a fraction such as 0.001 keeps a served simulator's clients from waiting);
- ``server_error``: status 500 (``openai.InternalServerError``), no ``retry-after``;
- ``overloaded``: status 503 (``openai.InternalServerError``), no ``retry-after``;
- ``timeout``: no answer at all: the transport raises ``httpx.ReadTimeout`` (``openai.APITimeoutError``).
  Inside :func:`virtual_time` the client's read timeout passes first, as online; outside, it raises at once.

With no ``retry-after`` the ``openai`` client backs off 0.5 s, 1 s, 2 s, ... up to 8 s, and LlamaIndex waits
between its own calls too: an outage takes minutes, as it would online. So that a notebook does not sit
through them, :func:`inject` runs its block in virtual time (:mod:`persistlab.simulator.clock`): every wait
is skipped, and the retrying code still sees it pass, so it gives up when it would online.

Choose the requests: ``on=[3]`` (the 3rd matching request, counting every attempt, retries too),
``after=3`` (the 3rd and every later one: an outage) or ``rate=0.2, seed=1`` (a seeded fraction).
Switch faults on in a notebook::

    from persistlab.simulator import faults
    with faults.inject("rate_limit", on=[2]) as plan:
        index = VectorStoreIndex.from_documents(docs)
    print(plan.injected)          # [(2, 'rate_limit')]
    print(plan.clock.summary())   # the waits the retries asked for, and the wall time

or for a whole process from the environment, e.g.
``PERSISTLAB_FAULTS="rate_limit:on=2/5;server_error:rate=0.1,seed=7;timeout:after=9,endpoint=chat"``.

Faults reach the clients :mod:`persistlab.models` builds on the offline simulator and the served
simulator (:mod:`persistlab.simulator.http_server`); faults from the environment wait in real time. They
never reach :func:`persistlab.simulator.service.handle` itself, which grading's counting models call
directly, so grading stays deterministic whatever is set here.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import httpx

from persistlab.config import FAULTS_ENV
from persistlab.simulator import clock
from persistlab.simulator.clock import VirtualClock, virtual_time
from persistlab.simulator.errors import ApiError

__all__ = ["KINDS", "Fault", "FaultPlan", "failure", "inject", "intercept", "parse", "virtual_time"]

KINDS = ("rate_limit", "server_error", "overloaded", "timeout")
RATE_LIMIT_REQUESTS = 3000  # the simulated organisation's requests per minute
RATE_LIMIT_TOKENS = 1_000_000  # and tokens per minute
ENDPOINTS = ("embeddings", "chat", "any")


@dataclass(frozen=True)
class Fault:
    """One kind of failure and the requests it hits (numbers count matching requests from 1)."""

    kind: str
    on: frozenset[int] = frozenset()
    after: int | None = None
    rate: float = 0.0
    seed: int = 0
    endpoint: str = "embeddings"
    retry_after: float = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Unknown fault kind {self.kind!r}; choose one of {', '.join(KINDS)}.")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"Unknown fault endpoint {self.endpoint!r}; choose one of {', '.join(ENDPOINTS)}.")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"Fault rate={self.rate} is not a fraction between 0 and 1.")
        if any(n < 1 for n in self.on) or (self.after is not None and self.after < 1):
            raise ValueError(f"Request numbers start at 1; got on={sorted(self.on)}, after={self.after}.")
        if self.retry_after < 0:
            raise ValueError(f"retry_after={self.retry_after} is negative; give seconds, or 0 for none.")
        if not (self.on or self.after or self.rate):
            raise ValueError(f"The {self.kind} fault hits no request: give on=[...], after=N or rate=0..1.")

    def hits(self, number: int) -> bool:
        if number in self.on or (self.after is not None and number >= self.after):
            return True
        return bool(self.rate) and random.Random(f"{self.seed}:{self.kind}:{number}").random() < self.rate


def _endpoint(request: httpx.Request) -> str | None:
    if request.method != "POST":
        return None
    path = request.url.path.rstrip("/")
    return "embeddings" if path.endswith("/embeddings") else "chat" if path.endswith("/chat/completions") else None


def _model(request: httpx.Request) -> str:
    try:
        return str(json.loads(request.content or b"{}").get("model", "the model"))
    except (json.JSONDecodeError, AttributeError, httpx.RequestNotRead):
        return "the model"


def rate_limit_headers(retry_after: float) -> dict[str, str]:
    """The headers of the real service's 429 for a per-minute request limit (durations as it writes them)."""
    headers = {
        "x-ratelimit-limit-requests": str(RATE_LIMIT_REQUESTS),
        "x-ratelimit-limit-tokens": str(RATE_LIMIT_TOKENS),
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": str(RATE_LIMIT_TOKENS),
        "x-ratelimit-reset-requests": f"{retry_after or 1:g}s",
        "x-ratelimit-reset-tokens": "0s",
    }
    if retry_after:
        headers["retry-after"] = f"{retry_after:g}"
    return headers


def failure(kind: str, request: httpx.Request, retry_after: float = 1) -> httpx.Response:
    """The response (or, for ``timeout``, the exception raised) of one injected fault."""
    if kind == "rate_limit":
        # The real service's wording (seen in reports for text-embedding-3-small), with made-up limits.
        return ApiError(
            429,
            f"Rate limit reached for {_model(request)} in organization org-simulated on requests per min (RPM): "
            f"Limit {RATE_LIMIT_REQUESTS}, Used {RATE_LIMIT_REQUESTS}, Requested 1. "
            f"Please try again in {retry_after or 1:g}s. "
            "Visit https://platform.openai.com/account/rate-limits to learn more.",
            kind="requests",
            code="rate_limit_exceeded",
        ).response(rate_limit_headers(retry_after))
    if kind == "server_error":
        # The real service's wording; it says nothing about when to retry.
        return ApiError(
            500, "The server had an error while processing your request. Sorry about that!", kind="server_error"
        ).response()
    if kind == "overloaded":
        return ApiError(
            503, "The engine is currently overloaded, please try again later.", kind="server_error"
        ).response()
    if kind == "timeout":
        # The client gives up after its read timeout (httpx's documented "timeout" request extension).
        read_timeout = (request.extensions.get("timeout") or {}).get("read")
        if clock.is_virtual() and read_timeout:
            clock.advance(float(read_timeout))
        raise httpx.ReadTimeout("Simulated timeout: the service did not answer.", request=request)
    raise ValueError(f"Unknown fault kind {kind!r}; choose one of {', '.join(KINDS)}.")


@dataclass
class FaultPlan:
    """Faults with their own request counts; ``injected`` lists (request number, kind) as they fire."""

    faults: tuple[Fault, ...]
    injected: list[tuple[int, str]] = field(default_factory=list)
    clock: VirtualClock | None = None
    _counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def intercept(self, request: httpx.Request) -> httpx.Response | None:
        """The failure to answer ``request`` with, or None to let the service answer."""
        endpoint = _endpoint(request)
        if endpoint is None:
            return None
        with self._lock:
            numbers = {}
            for key in (endpoint, "any"):
                self._counts[key] = self._counts.get(key, 0) + 1
                numbers[key] = self._counts[key]
            for fault in self.faults:
                if fault.endpoint in (endpoint, "any") and fault.hits(numbers[fault.endpoint]):
                    self.injected.append((numbers[fault.endpoint], fault.kind))
                    break
            else:
                return None
        return failure(fault.kind, request, fault.retry_after)


def parse(spec: str) -> FaultPlan:
    """A plan from ``kind:key=value,...;kind:...`` (keys on, after, rate, seed, endpoint, retry_after;
    ``on`` lists numbers separated by ``/``)."""
    faults = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        kind, _, options = part.partition(":")
        kwargs: dict[str, object] = {}
        for option in filter(None, (o.strip() for o in options.split(","))):
            key, eq, value = option.partition("=")
            try:
                if not eq:
                    raise ValueError
                if key == "on":
                    kwargs["on"] = frozenset(int(n) for n in value.split("/"))
                elif key in ("after", "seed"):
                    kwargs[key] = int(value)
                elif key in ("rate", "retry_after"):
                    kwargs[key] = float(value)
                elif key == "endpoint":
                    kwargs["endpoint"] = value
                else:
                    raise KeyError(key)
            except KeyError:
                raise ValueError(
                    f"{FAULTS_ENV}: unknown option {key!r} in {part!r}; use on, after, rate, seed, "
                    "endpoint or retry_after."
                ) from None
            except ValueError:
                raise ValueError(
                    f"{FAULTS_ENV}: cannot read {option!r} in {part!r}; write e.g. "
                    "'rate_limit:on=2/5' or 'server_error:rate=0.1,seed=7'."
                ) from None
        faults.append(Fault(kind.strip(), **kwargs))  # type: ignore[arg-type]  # checked by Fault itself
    return FaultPlan(tuple(faults))


_active: list[FaultPlan] = []
_from_env: tuple[str, FaultPlan] | None = None
_state_lock = threading.Lock()


def _env_plan() -> FaultPlan | None:
    global _from_env
    spec = os.environ.get(FAULTS_ENV, "").strip()
    if not spec:
        return None
    with _state_lock:
        if _from_env is None or _from_env[0] != spec:
            _from_env = (spec, parse(spec))
        return _from_env[1]


def intercept(request: httpx.Request) -> httpx.Response | None:
    """Apply the faults from ``PERSISTLAB_FAULTS`` and from open :func:`inject` blocks to one request."""
    plans = [p for p in (_env_plan(), *list(_active)) if p is not None]
    for plan in plans:
        response = plan.intercept(request)
        if response is not None:
            return response
    return None


@contextlib.contextmanager
def inject(
    kind: str,
    *,
    on: Iterable[int] = (),
    after: int | None = None,
    rate: float = 0.0,
    seed: int = 0,
    endpoint: str = "embeddings",
    retry_after: float = 1,
    virtual: bool = True,
) -> Iterator[FaultPlan]:
    """Make the simulator fail with ``kind`` on the chosen requests inside the ``with`` block.

    Requests are numbered from 1 within the block, per endpoint ("embeddings", "chat"; "any" counts both).
    With ``virtual`` (the default) the block runs in :func:`virtual_time` seeded with ``seed``: the plan's
    ``clock`` tells how long the retries waited; ``virtual=False`` waits for real.
    """
    plan = FaultPlan((Fault(kind, frozenset(on), after, rate, seed, endpoint, retry_after),))
    with contextlib.ExitStack() as stack:
        if virtual:
            plan.clock = stack.enter_context(virtual_time(seed))
        with _state_lock:
            _active.append(plan)
        try:
            yield plan
        finally:
            with _state_lock:
                _active.remove(plan)
