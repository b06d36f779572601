"""Injected faults: the chosen requests fail as the real service fails, the meter counts them apart,
and grading's counting models never see them."""

from __future__ import annotations

import httpx
import openai
import pytest

import persistlab
from persistlab.grading import counting_embedding_model
from persistlab.simulator import faults, service

TEXTS = ["salt cures ham", "ice keeps fish", "jam is boiled fruit", "smoke dries meat"]


@pytest.fixture(scope="module")
def embed():
    return persistlab.embedding_model(embed_batch_size=2, max_retries=2)


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


def test_a_rate_limit_says_how_long_to_wait() -> None:
    request = httpx.Request("POST", "https://sim.invalid/v1/embeddings", json={"model": "text-embedding-3-small"})
    response = faults.failure("rate_limit", request, retry_after_ms=250)
    assert response.status_code == 429
    assert (response.headers["retry-after-ms"], response.headers["retry-after"]) == ("250", "0.25")
    assert response.json()["error"]["code"] == "rate_limit_exceeded"


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
