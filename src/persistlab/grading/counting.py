"""Embedding models whose calls a grading test counts where the learner's code cannot reach the count.

:func:`counting_embedding_model` gives a real ``OpenAIEmbedding`` whose requests go over loopback HTTP
to a simulator served by another process (:mod:`persistlab.simulator.http_server`), under a random label of its own.
That server lists every embeddings request answered under the label (``GET /counted/<label>/calls``)
and no request can remove an entry, so the count a test trusts is kept out of the notebook's process:
resetting or patching ``persistlab.usage`` changes nothing in it.

The server answers with the in-process simulator's vectors (:data:`COUNTING_SEED` is 0), not with a
secret seed (``served_simulator(seed=None)``): a model of the same name must give the same vectors
whichever client asks, as on the real service, because the exercises grade a learner who builds or
loads with ``Settings.embed_model`` (the same model name) on what they got wrong only. With a secret
seed those submissions would lose the points of every retrieval test as well.

:meth:`CallCounter.watch` then checks, without looking inside any library object:

- that the model still sends its requests to that server: after the block it embeds two random
  probe texts through the model's public methods and requires exactly those requests, with the
  model's own name, to arrive, and the vectors the model returns to be the server's;
- that the usage meter saw as many requests in the block (fewer means it was tampered with, more
  means requests went to another model, such as ``Settings.embed_model``);
- that the course's meter and grading code are unpatched (:func:`.integrity.check_meter_integrity`).
"""

from __future__ import annotations

import atexit
import contextlib
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import numpy as np
from llama_index.core import Settings
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.embeddings.openai import OpenAIEmbedding

from persistlab.grading.integrity import TamperingError, check_meter_integrity
from persistlab.learning import meter
from persistlab.models import SIMULATED_API_KEY
from persistlab.simulator.http_server import COUNTING_SEED
from persistlab.simulator.server_process import ServedSimulator, start, take_prestarted, wait_until_serving
from persistlab.simulator.service import check_model
from persistlab.simulator.tokens import use_bundled_encodings

_starting: subprocess.Popen | None = None
_server: ServedSimulator | None = None
_server_lock = threading.Lock()


def _start_server() -> None:
    """Start this process's counting server (a child process) without waiting for it, or take the one a
    zygote forked for it (:func:`persistlab.simulator.server_process.prestart`)."""
    global _starting, _server
    if _starting is None and _server is None:
        _server = take_prestarted(COUNTING_SEED)
        if _server is None:
            _starting = start(seed=COUNTING_SEED)
        else:
            atexit.register(_server.stop)


def server_root() -> str:
    """The counting server's root URL: the server is started (or a prestarted one taken) on first use."""
    global _server
    with _server_lock:
        if _server is None or _server.process.poll() is not None:
            _server = None
            _start_server()
            if _server is None:
                assert _starting is not None
                _server = wait_until_serving(_starting)
                atexit.register(_server.stop)
        return _server.base_url.removesuffix("/v1")


@dataclass(frozen=True)
class CountedModelSpec:
    """What another process needs to make a model this counter counts
    (:func:`persistlab.grading.processes.counted_model`)."""

    model: str
    dimensions: int | None
    api_base: str


@dataclass
class Calls:
    """Embedding requests counted during one :meth:`CallCounter.watch` block (filled when it ends)."""

    requests: int = 0
    texts: int = 0
    inputs: list[str] = field(default_factory=list)
    """The texts sent to be embedded, in order."""

    def __str__(self) -> str:
        return f"{self.requests} embedding request(s) for {self.texts} text(s)"


class CallCounter:
    """Reads the counting server's list of the embeddings requests one counting model made.

    Made by :func:`counting_embedding_model`; the probes of :meth:`watch` are left out of every count.
    """

    def __init__(
        self,
        model: str,
        dimensions: int | None,
        embed_model: OpenAIEmbedding,
        label_url: str,
        clients: tuple[httpx.Client, httpx.AsyncClient],
    ) -> None:
        self.model = model
        self.dimensions = dimensions
        self._embed_model = embed_model
        self._label_url = label_url
        self._clients = clients
        self._probes: set[str] = set()

    def spec(self) -> CountedModelSpec:
        """The model, picklable: a process of its own makes an ``OpenAIEmbedding`` from it whose calls count here."""
        return CountedModelSpec(self.model, self.dimensions, f"{self._label_url}/v1")

    def _server_calls(self) -> list[tuple[str, list[str]]]:
        response = self._clients[0].get(f"{self._label_url}/calls")
        if response.status_code != 200:
            raise TamperingError(
                f"The grader's counting server did not answer ({response.status_code}); restart the kernel and run all cells."
            )
        return [(model, texts) for model, texts in response.json()["calls"]]

    def _calls(self) -> list[tuple[str, list[str]]]:
        return [call for call in self._server_calls() if not set(call[1]) & self._probes]

    @property
    def requests(self) -> int:
        """Embeddings requests answered so far."""
        return len(self._calls())

    @property
    def texts(self) -> int:
        """Texts embedded so far."""
        return len(self.inputs)

    @property
    def inputs(self) -> list[str]:
        """Every text embedded so far, in order."""
        return [text for _, texts in self._calls() for text in texts]

    @contextlib.contextmanager
    def watch(self) -> Iterator[Calls]:
        """Count the calls made inside the ``with`` block, then check nobody interfered.

        The yielded :class:`Calls` is filled when the block ends. If the block raises, the error
        passes through unchanged (and the checks are skipped). Otherwise the block fails with
        :class:`TamperingError` if the meter or the model were changed, or with ``AssertionError``
        if embedding requests went to a model other than this one.
        """
        check_meter_integrity()
        calls = Calls()
        first = len(self._calls())
        with meter.metered() as metered_block:
            try:
                yield calls
            finally:
                made = self._calls()[first:]
                calls.requests = len(made)
                calls.inputs = [text for _, texts in made for text in texts]
                calls.texts = len(calls.inputs)
        check_meter_integrity()
        self.check_untouched()
        models = {model for model, _ in made} - {self.model}
        if models:
            raise TamperingError(
                f"Requests from the {self.model} model asked for {', '.join(sorted(models))} "
                "instead: its model name was changed. Use the embedding model you are given as it is."
            )
        if metered_block.requests < calls.requests:
            raise TamperingError(
                f"The usage meter saw {metered_block.requests} of the {calls.requests} embedding request(s) "
                "made in this test: it was reset, replaced or unhooked. Leave persistlab.learning.meter and "
                "persistlab.usage alone, restart the kernel and run all cells."
            )
        if metered_block.requests > calls.requests:
            extra = metered_block.requests - calls.requests
            raise AssertionError(
                f"{extra} embedding request(s) went to another model than the {self.model} model passed in "
                "(Settings.embed_model, or a model you created?). Pass embed_model= to every LlamaIndex call "
                "that embeds or loads."
            )

    def check_untouched(self) -> None:
        """Raise :class:`TamperingError` unless the model still embeds through the counting server.

        Embeds two random probe texts through the model's public methods (a batch and a query) and
        the same texts directly: exactly these three requests must reach the server, under this
        model's name, and the model must return the server's vectors.
        """
        problems = []
        if self._embed_model.embeddings_cache is not None:
            problems.append("an embeddings cache was attached to it")
        hooks = meter.event_hooks()["response"], meter.async_event_hooks()["response"]
        if any(
            hook not in client.event_hooks["response"]
            for client, wanted in zip(self._clients, hooks)
            for hook in wanted
        ):
            problems.append("the usage meter's hook was removed from its HTTP client")
        batch_text, query_text = f"probe {secrets.token_hex(8)} batch", f"probe {secrets.token_hex(8)} query"
        self._probes |= {batch_text, query_text}
        before = len(self._server_calls())
        try:
            returned = [
                self._embed_model.get_text_embedding_batch([batch_text])[0],
                self._embed_model.get_query_embedding(query_text),
            ]
        except Exception as err:  # a broken model fails the test as tampering, with the cause
            raise TamperingError(
                f"The {self.model} embedding model given to your code no longer works: "
                f"{type(err).__name__}: {err}. Use the model you are given as it is."
            ) from err
        body = {"model": self.model, "input": [batch_text, query_text], "encoding_format": "float"}
        direct = self._clients[0].post(
            f"{self._label_url}/v1/embeddings", json=body | ({"dimensions": self.dimensions} if self.dimensions else {})
        )
        served = np.array([row["embedding"] for row in direct.json()["data"]], dtype=np.float64)
        arrived = self._server_calls()[before:]
        if [texts for _, texts in arrived[:2]] != [[batch_text], [query_text]]:
            problems.append(
                "its requests no longer reach the grader's server (its HTTP client was replaced, or a method patched)"
            )
        elif {model for model, _ in arrived[:2]} != {self.model}:
            problems.append(f"its model name was changed from {self.model}")
        else:
            vectors = np.array(returned, dtype=np.float64)
            cosine = (vectors * served).sum(1) / (
                np.linalg.norm(vectors, axis=1) * np.linalg.norm(served, axis=1) + 1e-12
            )
            if vectors.shape != served.shape or (cosine < 0.9).any():
                problems.append("the vectors it returns are not the ones the grader's server sent")
        if problems:
            raise TamperingError(
                f"The {self.model} embedding model given to your code was modified: {'; '.join(dict.fromkeys(problems))}. "
                "Use the model you are given as it is: its calls are what the test counts."
            )


def counting_embedding_model(
    model: str = "text-embedding-3-small",
    dimensions: int | None = None,
    *,
    noise: float = 0.0,
    vectors_from: str | None = None,
    seed: int = 0,
) -> tuple[OpenAIEmbedding, CallCounter]:
    """A real ``OpenAIEmbedding`` answered by the counting server, and the counter of its calls.

    ``model`` and ``dimensions`` are as for :func:`persistlab.embedding_model`. Two knobs make the
    model behave like real services do:

    - ``noise``: each response's vectors get random noise of this relative size (0.03 keeps the
      cosine to the exact vector near 0.9995), as real API vectors differ slightly from call to call;
      ``seed`` chooses the noise;
    - ``vectors_from``: answer with another model's vectors under this model's name, as when a
      provider or a deployment changes the model behind a name. Its vectors must be at least as long.

    The model is metered like every course model, but always offline, whatever ``PERSISTLAB_BACKEND`` says.
    """
    size = check_model(model, dimensions)
    if vectors_from is not None and check_model(vectors_from) < size:
        raise ValueError(f"vectors_from={vectors_from} gives {check_model(vectors_from)} numbers, fewer than {size}.")
    use_bundled_encodings()
    label_url = f"{server_root()}/counted/{secrets.token_urlsafe(24)}"
    # Plain HTTP to 127.0.0.1: no certificates to load (25 ms a client, a third of some exercises' grading).
    sync_client = httpx.Client(event_hooks=meter.event_hooks(), timeout=60, verify=False)
    async_client = httpx.AsyncClient(event_hooks=meter.async_event_hooks(), timeout=60, verify=False)
    registered = sync_client.post(
        f"{label_url}/register", json={"noise": noise, "vectors_from": vectors_from, "noise_seed": seed}
    )
    if registered.status_code != 200:
        raise ValueError(f"The counting server refused this model: {registered.json().get('error')}")
    embed_model = OpenAIEmbedding(
        model=model,
        dimensions=dimensions,
        api_key=SIMULATED_API_KEY,
        api_base=f"{label_url}/v1",
        http_client=sync_client,
        async_http_client=async_client,
        max_retries=0,
    )
    return embed_model, CallCounter(model, dimensions, embed_model, label_url, (sync_client, async_client))


@contextlib.contextmanager
def settings_embed_model(embed_model: BaseEmbedding) -> Iterator[BaseEmbedding]:
    """Set ``Settings.embed_model`` inside the block (e.g. to a counted decoy), then restore it.

    Needs a model set before (``persistlab.setup()``, as every exercise's first cell does).
    """
    try:
        before = Settings.embed_model
    except ValueError as err:  # LlamaIndex's default model needs an OpenAI key: nothing was set
        raise RuntimeError("settings_embed_model restores Settings.embed_model: run persistlab.setup() first.") from err
    Settings.embed_model = embed_model
    try:
        yield embed_model
    finally:
        Settings.embed_model = before
