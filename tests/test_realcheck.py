"""The maintainers' real-service check, run against the served simulator standing in for the real API."""

from __future__ import annotations

import re

import nbformat
import pytest

import persistlab
from persistlab.learning import meter
from persistlab.maintainers.realcheck import CheckError, check
from persistlab.simulator.server_process import served_simulator

CELLS = [
    "import persistlab\npersistlab.setup()",
    "model = persistlab.embedding_model()\nprint(len(model.get_text_embedding('salt cures ham')))",
    "import openai\ntry:\n    model.get_text_embedding(' '.join(['salt'] * 9000))\n"
    "except openai.BadRequestError as error:\n    print(type(error).__name__, error.status_code)",
]


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    path = tmp_path_factory.mktemp("lesson") / "tiny_lesson.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS]), path)
    return path


@pytest.fixture(scope="module")
def server():
    with served_simulator() as served:
        yield served


def test_it_refuses_to_start_without_a_cap_or_a_key(lesson, monkeypatch) -> None:
    with pytest.raises(CheckError, match="spend cap is required"):
        check([lesson], None, api_base="http://127.0.0.1:9/v1")
    with pytest.raises(CheckError, match="spend cap is required"):
        check([lesson], 0.0, api_base="http://127.0.0.1:9/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(CheckError, match="needs a key"):
        check([lesson], 0.01)


def test_against_the_served_simulator_everything_agrees_and_the_spend_is_printed(lesson, server) -> None:
    lines: list[str] = []
    assert check([lesson], 0.01, api_base=server.base_url, out=lines.append) == 0, lines
    assert re.match(r"ok   tiny_lesson: 1 embedding requests, \d+ tokens, \$0\.0000", lines[0]), lines
    assert lines[1].startswith("ok   questions.json top-1:")
    assert lines[-1].startswith("spent $0.0001") and lines[-1].endswith(f"cap against {server.base_url}")
    assert server.counts()["embeddings"] >= 3  # the target runs really went to the server


def test_a_service_that_behaves_differently_is_reported(lesson) -> None:
    lines: list[str] = []
    with served_simulator(fault_spec="rate_limit:after=1,retry_after=0.001") as broken:  # clients wait 1 ms
        assert check([lesson], 0.01, api_base=broken.base_url, out=lines.append, questions=False) == 1
    assert lines[0].startswith("DIFF tiny_lesson")
    assert any("requests: simulator 1, target 0" in line for line in lines), lines
    assert any("RateLimitError" in line for line in lines), lines


def test_a_lesson_that_would_pass_the_cap_is_not_started(lesson, server) -> None:
    before = server.counts()["embeddings"]
    lines: list[str] = []
    assert check([lesson], 1e-9, api_base=server.base_url, out=lines.append, questions=False) == 3
    assert lines[0].startswith("STOP tiny_lesson: it would cost about $0.000000")
    assert lines[-1].startswith("spent $0.000000 of the $0.000000 cap")
    assert server.counts()["embeddings"] == before


def test_inside_a_kernel_the_meter_refuses_a_request_past_the_cap(monkeypatch) -> None:
    model = persistlab.embedding_model()
    monkeypatch.setenv(meter.SPEND_CAP_ENV, str(meter.usage.cost_usd + meter.usage.chat_cost_usd + 1e-12))
    with persistlab.metered() as m, pytest.raises(meter.SpendCapReached, match="would take the spend past the cap"):
        model.get_text_embedding("salt cures ham and ice keeps fish")
    assert m.attempts == 0  # never sent
    monkeypatch.setenv(meter.SPEND_CAP_ENV, "1")
    assert len(model.get_text_embedding("salt")) == 1536
