"""The simulator served over loopback HTTP in a child process: the real network path, offline."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import openai
import pytest
from helpers import REPO

from persistlab import models
from persistlab.simulator.http_server import make_server
from persistlab.simulator.server_process import served_simulator


@pytest.fixture(scope="module")
def server():
    with served_simulator() as served:
        yield served


def _client(base_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="sk-placeholder", max_retries=0)


def test_it_answers_like_the_in_process_simulator_and_refuses_the_same(server) -> None:
    from persistlab.simulator.service import embed_vectors

    client = _client(server.base_url)
    before = server.counts()
    served = client.embeddings.create(model="text-embedding-3-small", input=["salt cures ham"]).data[0].embedding
    np.testing.assert_allclose(served, embed_vectors(["salt cures ham"], "text-embedding-3-small")[0], rtol=1e-6)
    with pytest.raises(openai.BadRequestError, match="maximum context length is 8192 tokens"):
        client.embeddings.create(model="text-embedding-3-small", input=" ".join(["salt"] * 9000))
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        stream=True,
        messages=[
            {
                "role": "user",
                "content": "Context information is below.\n-----\nIce houses kept ice.\n-----\nQuery: ice?\nAnswer: ",
            }
        ],
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Ice houses kept ice."
    after = server.counts()
    assert (after["embeddings"] - before["embeddings"], after["chat"] - before["chat"]) == (2, 1)
    assert after["failed"] - before["failed"] == 1


def test_a_seed_changes_every_vector_and_faults_come_from_the_parent() -> None:
    with served_simulator(seed=7, fault_spec="rate_limit:on=1") as other:
        client = _client(other.base_url)
        with pytest.raises(openai.RateLimitError):
            client.embeddings.create(model="text-embedding-3-small", input=["salt"])
        seeded = np.array(client.embeddings.create(model="text-embedding-3-small", input=["salt"]).data[0].embedding)
        assert other.counts() == {"embeddings": 2, "chat": 0, "other": 0, "failed": 1}
    from persistlab.simulator.service import embed_vectors

    assert abs(float(seeded @ embed_vectors(["salt"], "text-embedding-3-small")[0])) < 0.1


def test_a_secret_seed_is_drawn_by_the_child_and_never_shown() -> None:
    from persistlab.simulator.service import embed_vectors

    with served_simulator(seed=None) as secret:
        assert "secret" in secret.process.args and not any(arg.isdigit() and arg != "0" for arg in secret.process.args)
        vector = np.array(
            _client(secret.base_url).embeddings.create(model="text-embedding-3-small", input=["salt"]).data[0].embedding
        )
    assert abs(float(vector @ embed_vectors(["salt"], "text-embedding-3-small")[0])) < 0.1


def test_counted_labels_list_their_calls_and_refuse_a_second_registration(server) -> None:
    import httpx

    root, label = server.base_url.removesuffix("/v1"), "a-label-of-twenty-chars"
    with httpx.Client() as http:
        assert http.get(f"{root}/counted/{label}/calls").status_code == 404
        assert (
            http.post(f"{root}/counted/{label}/register", json={"vectors_from": "text-embedding-ada-002"}).status_code
            == 200
        )
        assert http.post(f"{root}/counted/{label}/register", json={}).status_code == 409
        assert (
            http.post(f"{root}/counted/other-label-of-twenty/register", json={"vectors_from": "bert"}).status_code
            == 400
        )
        client = _client(f"{root}/counted/{label}/v1")
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model="text-embedding-3-small", input=[""])
        served = client.embeddings.create(model="text-embedding-3-small", input=["salt", "cod"]).data[0].embedding
        assert http.get(f"{root}/counted/{label}/calls").json() == {
            "calls": [["text-embedding-3-small", ["salt", "cod"]]]
        }
    from persistlab.simulator.service import embed_vectors

    np.testing.assert_allclose(served, embed_vectors(["salt"], "text-embedding-ada-002")[0], rtol=1e-5, atol=1e-6)


def test_answers_go_out_without_waiting_for_a_delayed_ack() -> None:
    """TCP_NODELAY (socketserver's disable_nagle_algorithm): the handler writes headers and body apart, and without
    it every small answer (GET /calls, a one-text probe) waited ~45 ms for the client's delayed ACK, not ~2 ms."""
    server = make_server()
    try:
        assert server.RequestHandlerClass.disable_nagle_algorithm is True
    finally:
        server.server_close()


def test_the_banner_names_the_server(monkeypatch, server) -> None:
    monkeypatch.setenv("PERSISTLAB_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_API_BASE", server.base_url)
    assert f"the OpenAI-compatible server at {server.base_url} (OPENAI_API_BASE)" in models.describe()
    monkeypatch.delenv("OPENAI_API_BASE")
    assert "Backend: the real OpenAI API;" in models.describe()


def test_lessons_00_and_02_run_unchanged_over_the_socket(server, tmp_path) -> None:
    sanitize = tmp_path / "banner.cfg"
    sanitize.write_text("[banner]\nregex: Backend: [^;\\n]*;\nreplace: Backend: BACKEND;\n")
    env = {**os.environ, **server.env()}
    start = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval",
            "--nbval-sanitize-with",
            str(sanitize),
            "lessons/00_start_here.ipynb",
            "lessons/02_reload_correctly.ipynb",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    print(f"lessons 00 and 02 over the socket: {time.monotonic() - start:.1f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    counts = server.counts()
    assert counts["embeddings"] > 0  # the notebooks really went over the socket


def test_a_prestarted_server_is_taken_once_and_only_for_its_seed_while_it_runs() -> None:
    """What a zygote's child forks for its grading code (persistlab.classroom.zygote)."""
    script = """
import os, signal
from persistlab.simulator import server_process
from persistlab.simulator.http_server import COUNTING_SEED
server_process.prestart()
first = server_process.take_prestarted(COUNTING_SEED)
print(type(first.process).__name__, server_process.take_prestarted(COUNTING_SEED) is None, first.counts()["embeddings"])
first.stop()
print(first.process.poll())
server_process.prestart(seed=7)
other = server_process._prestarted[1].process
print(server_process.take_prestarted(COUNTING_SEED) is None, other.poll() is not None)
server_process.prestart()
os.kill(server_process._prestarted[1].process.pid, signal.SIGKILL)
server_process._prestarted[1].process.wait(10)
print(server_process.take_prestarted(COUNTING_SEED) is None)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ForkedServer", "True", "0", "0", "True", "True", "True"]
