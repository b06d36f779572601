"""Injected faults: the chosen requests fail as the real service fails (status, body, headers), the real
clients retry them on their own schedule in virtual time, the meter counts them apart, and grading's
counting models never see them."""

from __future__ import annotations

import logging
import threading
import time

import httpx
import openai
import pytest

import persistlab
from persistlab.grading import counting_embedding_model
from persistlab.simulator import clock, faults, service

TEXTS = ["salt cures ham", "ice keeps fish", "jam is boiled fruit", "smoke dries meat"]


@pytest.fixture(scope="module")
def embed():
    return persistlab.embedding_model(embed_batch_size=2, max_retries=2)


@pytest.fixture(scope="module")
def default_model():
    """LlamaIndex's defaults (max_retries=10, timeout=60), warmed up so that wall times are the retries'."""
    logging.getLogger("llama_index.embeddings.openai.utils").setLevel(logging.ERROR)
    model = persistlab.embedding_model()
    model.get_text_embedding("warm up")
    return model


def openai_backoff(retry: int) -> tuple[float, float]:
    """The openai client's wait before its ``retry``-th resend, without retry-after: 0.5 s doubling, at most
    8 s, less up to a quarter of jitter (openai/_base_client.py, ``_calculate_retry_timeout``)."""
    base = min(0.5 * 2**retry, 8.0)
    return 0.75 * base, base


def test_one_rate_limit_is_retried_by_the_openai_client_and_counted_apart(embed) -> None:
    with faults.inject("rate_limit", on=[2]) as plan, persistlab.metered() as m:
        vectors = embed.get_text_embedding_batch(TEXTS)
    assert plan.injected == [(2, "rate_limit")]
    assert vectors == embed.get_text_embedding_batch(TEXTS)  # same vectors as without the fault
    assert (m.requests, m.texts, m.attempts, m.failed_requests, m.retries) == (2, 4, 3, 1, 1)
    assert m.summary().endswith("(failed requests: 1, retries: 1)")
    with persistlab.metered() as clean:
        embed.get_text_embedding_batch(TEXTS)
    assert "failed" not in clean.summary() and "retries" not in clean.summary()


def test_an_outage_multiplies_attempts_by_both_retry_layers(embed) -> None:
    # max_retries=2: the openai client sends each call 3 times, LlamaIndex's tenacity makes 2 calls.
    with (
        faults.inject("rate_limit", after=1) as plan,
        persistlab.metered() as m,
        pytest.raises(openai.RateLimitError, match="Rate limit reached for text-embedding-3-small"),
    ):
        embed.get_text_embedding_batch(TEXTS[:1])
    assert len(plan.injected) == 6
    assert (m.requests, m.failed_requests, m.retries) == (0, 6, 4)  # the outer retries start a fresh count


@pytest.mark.parametrize(
    ("kind", "exception"),
    [
        ("rate_limit", openai.RateLimitError),
        ("server_error", openai.InternalServerError),
        ("overloaded", openai.InternalServerError),
        ("timeout", openai.APITimeoutError),
    ],
)
def test_each_kind_raises_the_openai_class_of_the_real_failure(kind: str, exception: type) -> None:
    client = openai.OpenAI(
        api_key="sk-simulated",
        base_url="https://sim.invalid/v1",
        max_retries=0,
        http_client=httpx.Client(transport=service.SimulatorTransport(faults.intercept)),
    )
    with faults.inject(kind, on=[1]), pytest.raises(exception):
        client.embeddings.create(model="text-embedding-3-small", input="salt")
    with faults.inject(kind, on=[1], endpoint="chat"), pytest.raises(exception):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def test_each_kind_carries_the_real_services_headers() -> None:
    request = httpx.Request("POST", "https://sim.invalid/v1/embeddings", json={"model": "text-embedding-3-small"})
    limited = faults.failure("rate_limit", request, retry_after=20)
    assert limited.status_code == 429 and limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert limited.headers["retry-after"] == "20"  # whole seconds; retry-after-ms is Azure's, not OpenAI's
    assert "retry-after-ms" not in limited.headers
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert limited.headers["x-ratelimit-reset-requests"] == "20s"
    assert {"x-ratelimit-limit-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"} <= set(
        limited.headers
    )
    assert "retry-after" not in faults.failure("rate_limit", request, retry_after=0).headers
    for kind, status in (("server_error", 500), ("overloaded", 503)):
        response = faults.failure(kind, request)
        assert response.status_code == status and response.json()["error"]["type"] == "server_error"
        # Nothing says when to retry: the clients fall back on their own backoff.
        assert not {"retry-after", "retry-after-ms", "x-should-retry"} & set(response.headers)
        assert not any(name.startswith("x-ratelimit") for name in response.headers)


def test_a_permanent_500_follows_the_real_clients_schedule_in_virtual_time(default_model) -> None:
    with (
        faults.inject("server_error", after=1) as plan,
        persistlab.metered() as m,
        pytest.raises(openai.InternalServerError),
    ):
        default_model.get_text_embedding("salt cures ham")
    per_call = default_model.max_retries + 1  # the openai client sends each of LlamaIndex's calls this often
    first_call = plan.clock.sleeps[: per_call - 1]
    assert all(low <= wait <= high for wait, (low, high) in zip(first_call, map(openai_backoff, range(10))))
    # The first call's backoff (42-56 s) stays under LlamaIndex's stop_after_delay(60); the second passes it.
    assert sum(first_call) < 60 < plan.clock.elapsed
    assert (m.attempts, m.requests) == (2 * per_call, 0)
    assert m.waited_seconds == pytest.approx(plan.clock.waited) and m.waited_seconds > 60
    assert m.wall_seconds < 1.0  # the waits were skipped, not slept


def test_a_429_storm_waits_as_long_as_retry_after_says(default_model) -> None:
    with (
        faults.inject("rate_limit", after=1, retry_after=1) as plan,
        persistlab.metered() as m,
        pytest.raises(openai.RateLimitError),
    ):
        default_model.get_text_embedding("salt cures ham")
    # Both layers wait the header's 1 s; LlamaIndex stops at the first call that ends past 60 s.
    assert set(plan.clock.sleeps) == {1.0}
    calls = m.attempts // (default_model.max_retries + 1)
    assert m.attempts == calls * (default_model.max_retries + 1) and calls == 6
    assert 60 <= plan.clock.waited < 60 + 11 and m.wall_seconds < 1.0


def test_a_timeout_costs_the_clients_read_timeout_in_virtual_time(default_model) -> None:
    with (
        faults.inject("timeout", after=1) as plan,
        persistlab.metered() as m,
        pytest.raises(openai.APITimeoutError),
    ):
        default_model.get_text_embedding("salt cures ham")
    timeouts = [wait for wait in plan.clock.sleeps if wait == default_model.timeout]
    assert len(timeouts) == m.attempts == default_model.max_retries + 1  # one call: it is already past 60 s
    assert m.wall_seconds < 1.0


def test_virtual_time_is_for_the_thread_that_asked_and_ends_with_the_block() -> None:
    seen: list[float] = []

    def other_thread() -> None:
        started = time.monotonic()
        time.sleep(0.05)
        seen.append(time.monotonic() - started)

    with faults.virtual_time() as virtual:
        started = time.monotonic()
        time.sleep(3600)
        assert time.monotonic() - started >= 3600 and clock.is_virtual()
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert 0.05 <= seen[0] < 60 and virtual.sleeps == [3600] and virtual.wall < 60
    assert (time.sleep, time.monotonic) == (clock._real_sleep, clock._real_monotonic) and not clock.is_virtual()


def test_waiting_for_real_is_still_possible() -> None:
    request = httpx.Request("POST", "https://sim.invalid/v1/embeddings", json={})
    with faults.inject("server_error", on=[1], virtual=False) as plan:
        assert plan.clock is None and not clock.is_virtual()
        assert faults.intercept(request) is not None


def test_a_seeded_rate_picks_the_same_requests_every_time() -> None:
    def picked(seed: int) -> list[int]:
        plan = faults.FaultPlan((faults.Fault("server_error", rate=0.3, seed=seed),))
        request = httpx.Request("POST", "https://sim.invalid/v1/embeddings", json={})
        return [n for n in range(1, 41) if plan.intercept(request) is not None]

    first = picked(1)
    assert first == picked(1) != picked(2)
    assert 4 <= len(first) <= 20


def test_the_environment_spec_is_parsed_and_bad_specs_name_the_fix() -> None:
    plan = faults.parse("rate_limit:on=2/5;server_error:rate=0.1,seed=7;timeout:after=9,endpoint=chat")
    assert [f.kind for f in plan.faults] == ["rate_limit", "server_error", "timeout"]
    assert plan.faults[0].on == {2, 5} and plan.faults[2].endpoint == "chat" and plan.faults[1].seed == 7
    assert faults.parse("rate_limit:on=1,retry_after=0.001").faults[0].retry_after == 0.001
    with pytest.raises(ValueError, match="unknown option 'every'"):
        faults.parse("rate_limit:every=2")
    with pytest.raises(ValueError, match="Unknown fault kind 'ratelimit'"):
        faults.parse("ratelimit:on=1")
    with pytest.raises(ValueError, match="hits no request"):
        faults.parse("timeout")


def test_faults_from_the_environment_reach_course_models_but_never_grading(monkeypatch) -> None:
    monkeypatch.setenv(faults.FAULTS_ENV, "server_error:after=1")
    course_model = persistlab.embedding_model(max_retries=0)
    with pytest.raises(openai.InternalServerError):
        course_model.get_text_embedding("salt")
    graded_model, counter = counting_embedding_model()
    with counter.watch() as calls:
        assert len(graded_model.get_text_embedding("salt")) == 1536
    assert calls.requests == 1
