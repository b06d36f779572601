"""Tools for the test cells of the graded exercises (``solutions/*/*.ipynb``).

A test cell builds an embedding model whose calls it can count, gives it to the learner's function
and checks what came back::

    from persistlab import grading

    embed_model, counter = grading.counting_embedding_model("text-embedding-3-large", dimensions=256)
    with grading.fresh_dir() as tmp:
        ...
        with counter.watch() as calls:
            index = load_persisted_index(tmp / "index", embed_model)
        assert calls.requests == 0, f"load_persisted_index made {calls.requests} embedding calls"

Why not read the usage meter? The learner's code runs in the same kernel as the tests, before
them, and could reset ``persistlab.usage``, replace ``persistlab.metered``, patch the meter or swap
the model's HTTP client. So the count a test trusts comes from elsewhere, and is checked:

- :func:`counting_embedding_model` gives each model its own HTTP transport, which counts every
  embeddings request that reaches it (the meter knows nothing about this counter), then answers it
  with the offline simulator, whatever ``PERSISTLAB_BACKEND`` says.
- :meth:`CallCounter.watch` compares that count with a :func:`persistlab.metered` block opened
  around the same code: fewer metered requests means the meter was tampered with, more means
  requests went to another model than the one passed in (for example ``Settings.embed_model``).
- It also checks that the model still sends through the counted client (:meth:`CallCounter.check_untouched`)
  and that the functions of the meter, backend, simulator, this module, the OpenAI embedding classes
  and httpx's client are the ones their source files defined when this module was imported
  (:func:`check_meter_integrity`).

Any difference fails the test with a :class:`TamperingError` that says what changed. These checks
catch tampering with the course's tools; they cannot sandbox arbitrary code, which runs in the same
process (nor do they need to: the instructor reads the submission).

The module also holds fixtures the tests share: :func:`fresh_dir` (a temporary folder removed
afterwards), :func:`sample_documents` and :func:`revise` (documents no learner has seen, one set per
seed), :func:`damage`, :func:`crash_while_writing`, :func:`crash_on_rename`, :func:`crash_on_delete`
and :func:`check_after_crash` (failures injected into a persist, and their verdict), :func:`crash_at_write`
(from :mod:`persistlab.crashpoints`: a crash at any one write of a run), :func:`check_consistent` (from
:mod:`persistlab.consistency`: the course's definition of a consistent index),
:func:`private_memory_fs` and :func:`dir_fs` (fsspec file systems no learner code has seen), and
small readers of persisted indexes (:func:`stored_doc_ids`, :func:`top_doc_id`, :func:`retrieve_all`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import inspect
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.embeddings.openai import OpenAIEmbedding

from persistlab import meter, simulator
from persistlab.consistency import check_consistent
from persistlab.crashpoints import InjectedCrash, WriteCrash, crash_at_write, is_inside
from persistlab.backend import SIMULATED_API_BASE, SIMULATED_API_KEY
from persistlab.tokens import use_bundled_encodings

__all__ = [
    "CallCounter",
    "Calls",
    "Crash",
    "GUARDED_MODULES",
    "InjectedCrash",
    "InjectedFailure",
    "Revision",
    "TamperingError",
    "attempt",
    "WriteCrash",
    "check_after_crash",
    "check_consistent",
    "check_meter_integrity",
    "code_of",
    "counting_embedding_model",
    "crash_at_write",
    "crash_on_delete",
    "crash_on_rename",
    "crash_while_writing",
    "damage",
    "dir_fs",
    "fresh_dir",
    "load_reference_index",
    "persist_reference_index",
    "persist_with",
    "private_memory_fs",
    "question_about",
    "retrieve_all",
    "revise",
    "sample_documents",
    "settings_embed_model",
    "stored_doc_ids",
    "swap_stored_vectors",
    "top_doc_id",
    "tree_digest",
]


class TamperingError(AssertionError):
    """The course's metering or grading code was changed while the notebook ran.

    An ``AssertionError``, so nbgrader reports the test as failed (not errored) with this message.
    """


# --- counting embedding models ----------------------------------------------------------------


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
    """Counts the embeddings requests that reach one counting model's HTTP transport.

    Made by :func:`counting_embedding_model`; nothing else can add to it.
    """

    def __init__(self, model: str, dimensions: int | None) -> None:
        self.model = model
        self.dimensions = dimensions
        self._lock = threading.Lock()
        self._requests = 0
        self._inputs: list[str] = []
        self._models: list[str] = []
        self._embed_model: OpenAIEmbedding | None = None
        self._transport: _CountingTransport | None = None
        self._clients: tuple[httpx.Client, httpx.AsyncClient] | None = None

    @property
    def requests(self) -> int:
        """Embeddings requests answered so far."""
        return self._requests

    @property
    def texts(self) -> int:
        """Texts embedded so far."""
        return len(self._inputs)

    @property
    def inputs(self) -> list[str]:
        """Every text embedded so far, in order (a copy)."""
        with self._lock:
            return list(self._inputs)

    def _record(self, model: str, texts: list[str]) -> None:
        with self._lock:
            self._requests += 1
            self._inputs.extend(texts)
            self._models.append(model)

    @contextlib.contextmanager
    def watch(self) -> Iterator[Calls]:
        """Count the calls made inside the ``with`` block, then check nobody interfered.

        The yielded :class:`Calls` is filled when the block ends. If the block raises, the error
        passes through unchanged (and the checks are skipped). Otherwise the block fails with
        :class:`TamperingError` if the meter or the model were changed, or with ``AssertionError``
        if embedding requests went to a model other than this one.
        """
        check_meter_integrity()
        self.check_untouched()
        calls = Calls()
        first_request, first_input = self._requests, len(self._inputs)
        with meter.metered() as metered_block:
            try:
                yield calls
            finally:
                with self._lock:
                    calls.requests = self._requests - first_request
                    calls.inputs = self._inputs[first_input:]
                    calls.texts = len(calls.inputs)
                    models = set(self._models[first_request:])
        check_meter_integrity()
        self.check_untouched()
        if models - {self.model}:
            raise TamperingError(
                f"Requests from the {self.model} model asked for {', '.join(sorted(models - {self.model}))} "
                "instead: its model name was changed. Use the embedding model you are given as it is."
            )
        if metered_block.requests < calls.requests:
            raise TamperingError(
                f"The usage meter saw {metered_block.requests} of the {calls.requests} embedding request(s) "
                "made in this test: it was reset, replaced or unhooked. Leave persistlab.meter and "
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
        """Raise :class:`TamperingError` if the model no longer sends through the counted clients."""
        model, transport, clients = self._embed_model, self._transport, self._clients
        if model is None or transport is None or clients is None:
            raise TamperingError("This CallCounter is not attached to a model; make both with counting_embedding_model().")
        sync_client, async_client = clients
        problems = []
        if model._http_client is not sync_client or model._async_http_client is not async_client:
            problems.append("its HTTP client was replaced")
        for client, hook in ((sync_client, meter._on_response), (async_client, meter._on_response_async)):
            if client._transport is not transport or client._mounts:
                problems.append("its HTTP transport was replaced")
            if hook not in client.event_hooks["response"]:
                problems.append("the usage meter's hook was removed from its HTTP client")
        for sdk_client, http_client in ((model._client, sync_client), (model._aclient, async_client)):
            if sdk_client is not None and getattr(sdk_client, "_client", None) is not http_client:
                problems.append("its OpenAI client was replaced")
        if (model._text_engine, model._query_engine) != (self.model, self.model):
            problems.append(f"its model name was changed from {self.model}")
        if model.embeddings_cache is not None:
            problems.append("an embeddings cache was attached to it")
        if problems:
            raise TamperingError(
                f"The {self.model} embedding model given to your code was modified: {'; '.join(dict.fromkeys(problems))}. "
                "Use the model you are given as it is: its calls are what the test counts."
            )


class _CountingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers with the simulator and tells a :class:`CallCounter` about every embeddings request."""

    def __init__(self, counter: CallCounter, reshape: Callable[[list[str], np.ndarray, int], np.ndarray] | None) -> None:
        self._counter = counter
        self._reshape = reshape
        self._request_number = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        return self._answer(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return self._answer(request)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        response = simulator.handle(request)
        if request.method != "POST" or not request.url.path.rstrip("/").endswith("/embeddings"):
            return response
        if response.status_code >= 400:
            return response  # not counted, as the meter does not count failed requests either
        sent = json.loads(request.content)
        texts = [sent["input"]] if isinstance(sent["input"], str) else list(sent["input"])
        self._counter._record(str(sent.get("model", "")), texts)
        self._request_number += 1
        if self._reshape is None:
            return response
        return _replace_vectors(response, texts, self._reshape, self._request_number)


def _replace_vectors(
    response: httpx.Response,
    texts: list[str],
    reshape: Callable[[list[str], np.ndarray, int], np.ndarray],
    request_number: int,
) -> httpx.Response:
    """The same response with each embedding passed through ``reshape`` (same wire format)."""
    payload = json.loads(response.content)
    rows = payload["data"]
    as_base64 = isinstance(rows[0]["embedding"], str) if rows else False
    if as_base64:
        matrix = np.stack([np.frombuffer(base64.b64decode(r["embedding"]), dtype="<f4") for r in rows])
    else:
        matrix = np.array([r["embedding"] for r in rows], dtype=np.float32)
    matrix = reshape(texts, matrix, request_number).astype(np.float32)
    for row, vector in zip(rows, matrix):
        row["embedding"] = base64.b64encode(vector.astype("<f4").tobytes()).decode() if as_base64 else vector.tolist()
    return httpx.Response(response.status_code, json=payload, headers={"x-request-id": "simulated"})


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def counting_embedding_model(
    model: str = "text-embedding-3-small",
    dimensions: int | None = None,
    *,
    noise: float = 0.0,
    vectors_from: str | None = None,
    seed: int = 0,
) -> tuple[OpenAIEmbedding, CallCounter]:
    """A real ``OpenAIEmbedding`` answered by the offline simulator, and the counter of its calls.

    ``model`` and ``dimensions`` are as for :func:`persistlab.embedding_model`. Two knobs make the
    model behave like real services do:

    - ``noise``: each response's vectors get random noise of this relative size (0.03 keeps the
      cosine to the exact vector near 0.9995), as real API vectors differ slightly from call to call;
    - ``vectors_from``: answer with another model's vectors under this model's name, as when a
      provider or a deployment changes the model behind a name. Its vectors must be at least as long.

    The model is metered like every course model, but always offline, whatever ``PERSISTLAB_BACKEND`` says.
    """
    if model not in simulator.EMBEDDING_DIMENSIONS:
        raise ValueError(f"Unsupported embedding model {model!r}; choose one of {', '.join(sorted(simulator.EMBEDDING_DIMENSIONS))}.")
    if vectors_from is not None and vectors_from not in simulator.EMBEDDING_DIMENSIONS:
        raise ValueError(f"vectors_from={vectors_from!r} is not a model the simulator knows.")
    use_bundled_encodings()
    counter = CallCounter(model, dimensions)

    def reshape(texts: list[str], matrix: np.ndarray, request_number: int) -> np.ndarray:
        if vectors_from is not None:
            other = simulator.embed_vectors(texts, vectors_from)
            if other.shape[1] < matrix.shape[1]:
                raise ValueError(f"vectors_from={vectors_from} gives {other.shape[1]} numbers, fewer than {matrix.shape[1]}.")
            matrix = _normalise(other[:, : matrix.shape[1]])
        if noise:
            rng = np.random.default_rng([seed, request_number])
            matrix = _normalise(matrix + rng.normal(0.0, noise / np.sqrt(matrix.shape[1]), matrix.shape))
        return matrix

    transport = _CountingTransport(counter, reshape if (noise or vectors_from) else None)
    sync_client = httpx.Client(transport=transport, event_hooks=meter.event_hooks())
    async_client = httpx.AsyncClient(transport=transport, event_hooks=meter.async_event_hooks())
    embed_model = OpenAIEmbedding(
        model=model,
        dimensions=dimensions,
        api_key=SIMULATED_API_KEY,
        api_base=SIMULATED_API_BASE,
        http_client=sync_client,
        async_http_client=async_client,
        max_retries=0,
    )
    counter._embed_model, counter._transport, counter._clients = embed_model, transport, (sync_client, async_client)
    return embed_model, counter


@contextlib.contextmanager
def settings_embed_model(embed_model: BaseEmbedding) -> Iterator[BaseEmbedding]:
    """Set ``Settings.embed_model`` inside the block (e.g. to a counted decoy), then restore it."""
    before = Settings._embed_model
    Settings.embed_model = embed_model
    try:
        yield embed_model
    finally:
        Settings._embed_model = before


# --- integrity of the metering code -------------------------------------------------------------

GUARDED_MODULES: tuple[str, ...] = (
    "persistlab",
    "persistlab.meter",
    "persistlab.backend",
    "persistlab.simulator",
    "persistlab.grading",
    "llama_index.embeddings.openai.base",
    "llama_index.embeddings.openai.utils",
    "llama_index.core.base.embeddings.base",
    "openai.resources.embeddings",
    "httpx._client",
)
"""Modules whose functions and methods must match their source files (as they were when this module was imported)."""

_REFERENCE: dict[str, dict[str, list[types.CodeType]]] = {}
"""Each guarded module's functions and methods, compiled from its source file when this module was imported.

The locked setup cell imports this module before any learner code runs, so editing a package file
while the kernel runs (a ``git pull``, an instructor's fix) cannot make an honest submission fail.
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
    if type(obj).__name__ == "PydanticDescriptorProxy":  # pydantic's validator decorators
        return _codes_of(obj.wrapped)
    try:
        obj = inspect.unwrap(obj)
    except ValueError:  # a wrapper cycle
        return []
    code = getattr(obj, "__code__", None)
    return [code] if isinstance(code, types.CodeType) else []


_MISSING = object()


def _compiled_source(module: types.ModuleType) -> dict[str, list[types.CodeType]]:
    """``{qualified name: code objects}`` of a fresh compile of the module's source file."""
    path = Path(module.__file__ or "")
    return _code_objects(compile(path.read_bytes(), str(path), "exec", dont_inherit=True), {})


def _reference_of(name: str) -> tuple[types.ModuleType, dict[str, list[types.CodeType]]]:
    """A guarded module and its code as first compiled (at import of this module, or now if imported later)."""
    import importlib

    module = sys.modules.get(name) or importlib.import_module(name)
    if name not in _REFERENCE:
        _REFERENCE[name] = _compiled_source(module)
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
    """Raise :class:`TamperingError` if anything the call counts rely on was replaced or patched.

    Compares every function and method of :data:`GUARDED_MODULES` with its source file as it was
    when this module was imported (later edits to the files do not count), and checks that
    ``persistlab.usage``, ``persistlab.metered`` and ``persistlab.meter`` are still the meter's own objects.
    """
    problems: list[str] = []
    for name in GUARDED_MODULES:
        problems += _differences_from_source(*_reference_of(name))
    package = sys.modules["persistlab"]
    live_meter = sys.modules["persistlab.meter"]
    if live_meter is not meter or vars(package).get("meter", meter) is not meter:
        problems.append("persistlab.meter (the module was replaced)")
    for name in ("usage", "metered", "Usage"):
        if vars(package).get(name) is not vars(meter).get(name):
            problems.append(f"persistlab.{name} (no longer the meter's own)")
    if type(meter.usage) is not meter.Usage or not isinstance(vars(meter).get("_scopes"), list):
        problems.append("persistlab.meter.usage or its open blocks (replaced)")
    if problems:
        shown = ", ".join(problems[:6]) + (f" and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise TamperingError(
            f"Code the grader relies on was changed while this notebook ran: {shown}. "
            "Remove the code that replaces or patches it (or reloads the module), restart the kernel and run all cells."
        )


# --- folders, documents, persisted indexes ---------------------------------------------------


@contextlib.contextmanager
def fresh_dir() -> Iterator[Path]:
    """A new, empty temporary folder with an unpredictable name; removed with its contents afterwards."""
    path = Path(tempfile.mkdtemp(prefix="persistlab-grading-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


_CONSONANTS = "bcdfghjkmnpqrstvwxz"
_FOODS = ("cabbage", "herring", "plums", "salt cod", "lemons", "pork belly", "cucumbers", "beef strips",
          "apricots", "mackerel", "turnips", "salmon", "mushrooms", "cherries", "duck legs", "walnuts")
_METHODS = ("packed in coarse salt", "cold-smoked over beech", "pickled in cider vinegar", "dried in the sun",
            "fermented in brine", "cooked down with sugar", "buried in wood ash", "hung in the cold wind")
_VESSELS = ("crock", "barrel", "jar", "cask", "tin", "sack", "basket", "box")
_PLACES = ("cellar", "attic", "ice house", "larder", "pantry", "smokehouse", "shed", "cave")
_NOTES = ("a thin white bloom on the surface", "a sharper smell than last week", "brine level two fingers lower",
          "no change in colour", "a few soft pieces near the lid", "firm texture and a clean taste",
          "condensation under the cover", "the weight had slipped to one side")


def _sentences(rng: random.Random, code: str, count: int) -> list[str]:
    food, method = rng.choice(_FOODS), rng.choice(_METHODS)
    vessel, place = rng.choice(_VESSELS), rng.choice(_PLACES)
    fixed = [
        f"Lot {code} holds {rng.randint(3, 90)} kilograms of {food}, {method}.",
        f"The {vessel} for lot {code} stands in the {place}, where it stays at {rng.randint(2, 15)} degrees.",
        f"Lot {code} was sealed in {rng.randint(1890, 2024)} and is checked every {rng.randint(2, 30)} days.",
        f"Records say lot {code} lost {rng.randint(5, 40)} percent of its weight while it cured.",
        f"Whoever opens lot {code} skims the top first and tastes a little before serving.",
    ]
    extra = [f"In week {week} the keeper of lot {code} noted {rng.choice(_NOTES)}." for week in range(1, max(0, count - 5) + 1)]
    return (fixed + extra)[:count]


def sample_documents(seed: int, n: int = 4, sentences: int = 5) -> list[Document]:
    """``n`` short documents about stored food lots, different for every ``seed`` and deterministic.

    Each is about one lot with a unique code word (its id is ``lot-<code>``); :func:`question_about`
    gives a query that finds it. ``sentences`` (at least 1) sets the length: 5 make one paragraph of
    about 90 tokens; more sentences come in paragraphs of 5, separated by blank lines.
    """
    if n < 1 or sentences < 1:
        raise ValueError(f"n and sentences must be at least 1, got n={n}, sentences={sentences}.")
    rng = random.Random(f"persistlab-grading:{seed}")
    codes: list[str] = []
    while len(codes) < n:
        code = "".join(rng.choice(_CONSONANTS) for _ in range(4)) + str(rng.randint(0, 9))
        if code not in codes:
            codes.append(code)
    documents = []
    for code in codes:
        lines = _sentences(rng, code, sentences)
        paragraphs = [" ".join(lines[i : i + 5]) for i in range(0, len(lines), 5)]
        documents.append(Document(id_=f"lot-{code}", text="\n\n".join(paragraphs)))
    return documents


def code_of(document: Document) -> str:
    """The code word of a :func:`sample_documents` document (``lot-kvzm4`` -> ``kvzm4``)."""
    return document.id_.removeprefix("lot-")


def question_about(document: Document) -> str:
    """A query that finds this :func:`sample_documents` document first: its first sentence."""
    return document.text.split(". ")[0] + "."


@dataclass(frozen=True)
class Revision:
    """A document after an edit: the new document, the sentence removed and the one put in its place."""

    document: Document
    old_sentence: str
    new_sentence: str


def revise(document: Document, seed: int = 0) -> Revision:
    """Replace the first sentence of a :func:`sample_documents` document with a new fact (same id)."""
    rng = random.Random(f"persistlab-revise:{seed}:{document.id_}")
    old = document.text.split(". ")[0] + "."
    new = (f"Lot {code_of(document)} now holds {rng.randint(100, 999)} kilograms of "
           f"{rng.choice(_FOODS)}, moved to the {rng.choice(_PLACES)} in week {rng.randint(40, 52)}.")
    if not document.text.startswith(old):
        raise ValueError(f"Document {document.id_} does not start with a sentence ending in '. '.")
    return Revision(Document(id_=document.id_, text=new + document.text[len(old):]), old, new)


def persist_reference_index(documents: list[Document], persist_dir: Path, embed_model: BaseEmbedding) -> VectorStoreIndex:
    """Build an index the standard way and persist it (the tests' own setup, independent of learners' code)."""
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    index.storage_context.persist(persist_dir=str(persist_dir))
    return index


def persist_with(
    build_and_persist: Callable[[list[Document], Path, BaseEmbedding], Any],
    documents: list[Document],
    persist_dir: Path,
    embed_model: BaseEmbedding,
) -> None:
    """Persist with the learner's ``build_and_persist``; if it fails or writes elsewhere, the reference way.

    Lets a loader be graded on its own, while a loader that returns what ``build_and_persist`` kept
    in memory is still caught.
    """
    try:
        build_and_persist(documents, persist_dir, embed_model)
    except Exception:  # graded by its own test; here only the files matter
        pass
    if not (Path(persist_dir) / "docstore.json").is_file():
        shutil.rmtree(persist_dir, ignore_errors=True)
        persist_reference_index(documents, persist_dir, embed_model)


def load_reference_index(persist_dir: Path, embed_model: BaseEmbedding) -> VectorStoreIndex:
    """Load an index the standard way; ``AssertionError`` naming the folder if it cannot be loaded."""
    try:
        storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
        return load_index_from_storage(storage_context, embed_model=embed_model)
    except Exception as err:  # any failure means "not a complete index" to the test
        raise AssertionError(f"{persist_dir} does not hold a complete, loadable index: {type(err).__name__}: {err}") from err


def stored_doc_ids(persist_dir: Path) -> set[str]:
    """Ids of the documents in the index persisted at ``persist_dir`` (loaded without embedding)."""
    embed_model, _ = counting_embedding_model()
    index = load_reference_index(persist_dir, embed_model)
    vector_ids = set(index.vector_store.to_dict()["embedding_dict"]) if hasattr(index.vector_store, "to_dict") else None
    nodes = index.docstore.get_nodes(list(index.index_struct.nodes_dict.values()))
    if vector_ids is not None and {n.node_id for n in nodes} != vector_ids:
        raise AssertionError(f"{persist_dir}: the vector store and the docstore list different nodes (a mix of two indexes?).")
    return {n.ref_doc_id for n in nodes if n.ref_doc_id}


def swap_stored_vectors(persist_dir: Path, doc_a: str, doc_b: str) -> None:
    """Edit a persisted index on disk: the nodes of two one-node documents trade vectors.

    Afterwards an index loaded from disk answers a question about ``doc_a`` with ``doc_b``; one that
    was re-embedded or kept in memory still answers with ``doc_a``.
    """
    path = Path(persist_dir) / "default__vector_store.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    node_of: dict[str, list[str]] = {}
    for node_id, ref in data["text_id_to_ref_doc_id"].items():
        node_of.setdefault(ref, []).append(node_id)
    if len(node_of.get(doc_a, [])) != 1 or len(node_of.get(doc_b, [])) != 1:
        raise ValueError(f"{path}: {doc_a} and {doc_b} must each have exactly one node.")
    (a,), (b,) = node_of[doc_a], node_of[doc_b]
    vectors = data["embedding_dict"]
    vectors[a], vectors[b] = vectors[b], vectors[a]
    path.write_text(json.dumps(data), encoding="utf-8")


def top_doc_id(index: VectorStoreIndex, query: str) -> str | None:
    """The document id of the best-matching node for ``query`` (one query embedding)."""
    hits = index.as_retriever(similarity_top_k=1).retrieve(query)
    return hits[0].node.ref_doc_id if hits else None


def retrieve_all(index: VectorStoreIndex, query: str = "lot") -> list[tuple[str | None, str]]:
    """``(document id, text)`` of every node the index can return (one query embedding)."""
    hits = index.as_retriever(similarity_top_k=100_000).retrieve(query)
    return [(hit.node.ref_doc_id, hit.node.get_content()) for hit in hits]


def tree_digest(path: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``path``, to show a folder was left untouched."""
    path = Path(path)
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def private_memory_fs() -> Any:
    """A new in-memory fsspec file system with a store of its own.

    ``fsspec.filesystem("memory")`` is one store shared by the whole process, so code that ignores
    the ``fs`` it is given and opens ``memory://`` itself would still find the files; here it would not.
    """
    from fsspec.implementations.memory import MemoryFileSystem

    class PrivateMemoryFileSystem(MemoryFileSystem):
        cachable = False  # a new instance every time, not fsspec's cached one
        store: dict[str, Any] = {}
        pseudo_dirs = [""]

    return PrivateMemoryFileSystem()


def dir_fs(folder: Path) -> Any:
    """An fsspec file system whose paths are relative to the local ``folder``, like a bucket on disk.

    Writing a file creates its parent folders, as object stores (which have no folders) allow.
    """
    from fsspec.implementations.dirfs import DirFileSystem
    from fsspec.implementations.local import LocalFileSystem

    return DirFileSystem(path=str(folder), fs=LocalFileSystem(auto_mkdir=True))


# --- failures injected into a persist ----------------------------------------------------------


class InjectedFailure(OSError):
    """A failure the test caused on purpose (like a full disk or a killed process)."""


@dataclass
class Crash:
    """What an injected failure did: ``fired`` is True once it has raised."""

    where: str
    fired: bool = False


@contextlib.contextmanager
def crash_while_writing(file_name: str) -> Iterator[Crash]:
    """The next time a LlamaIndex store writes ``file_name``, leave it half written and raise.

    Covers the docstore, index store, graph store and simple vector stores (file names such as
    ``docstore.json`` or ``default__vector_store.json``); fires once.
    """
    from llama_index.core.graph_stores.simple import SimpleGraphStore
    from llama_index.core.storage.kvstore.simple_kvstore import SimpleKVStore
    from llama_index.core.vector_stores.simple import SimpleVectorStore
    import fsspec

    crash = Crash(f"while writing {file_name}")
    originals = {cls: cls.persist for cls in (SimpleKVStore, SimpleVectorStore, SimpleGraphStore)}

    def patched(original: Callable[..., None]) -> Callable[..., None]:
        def persist(self: Any, persist_path: str, fs: Any = None, **kwargs: Any) -> None:
            original(self, persist_path, fs=fs, **kwargs)
            if crash.fired or Path(str(persist_path)).name != file_name:
                return
            target = fs or fsspec.filesystem("file")
            with target.open(persist_path, "rb") as f:
                content = f.read()
            with target.open(persist_path, "wb") as f:
                f.write(content[: len(content) // 2])
            crash.fired = True
            raise InjectedFailure(f"Injected failure {crash.where}: the process died half-way through the file.")

        return persist

    for cls, original in originals.items():
        cls.persist = patched(original)
    try:
        yield crash
    finally:
        for cls, original in originals.items():
            cls.persist = original


@contextlib.contextmanager
def crash_on_rename(nth: int, under: Path) -> Iterator[Crash]:
    """Make the ``nth`` rename (``os.rename``/``os.replace``, so also ``Path.rename``, ``Path.replace``,
    ``shutil.move``) of a path inside ``under`` raise before it happens. Other renames run normally."""
    crash = Crash(f"at rename number {nth}")
    real_rename, real_replace = os.rename, os.replace
    seen = 0

    def guarded(real: Callable[..., None]) -> Callable[..., None]:
        def rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            nonlocal seen
            if is_inside(src, under) or is_inside(dst, under):
                seen += 1
                if seen == nth:
                    crash.fired = True
                    raise InjectedFailure(f"Injected failure {crash.where} ({src} -> {dst}).")
            real(src, dst, *args, **kwargs)

        return rename

    os.rename, os.replace = guarded(real_rename), guarded(real_replace)
    try:
        yield crash
    finally:
        os.rename, os.replace = real_rename, real_replace


@contextlib.contextmanager
def crash_on_delete(under: Path) -> Iterator[Crash]:
    """Make the first ``shutil.rmtree`` of a folder inside ``under`` delete one file, then raise."""
    crash = Crash("half-way through deleting a folder")
    real_rmtree = shutil.rmtree

    def rmtree(path: Any, *args: Any, **kwargs: Any) -> None:
        if crash.fired or not is_inside(path, under) or not Path(os.fsdecode(path)).exists():
            return real_rmtree(path, *args, **kwargs)
        files = sorted(p for p in Path(os.fsdecode(path)).rglob("*") if p.is_file())
        if files:
            files[0].unlink()
        crash.fired = True
        raise InjectedFailure(f"Injected failure {crash.where} ({path}).")

    shutil.rmtree = rmtree  # type: ignore[assignment]
    try:
        yield crash
    finally:
        shutil.rmtree = real_rmtree  # type: ignore[assignment]


def damage(persist_dir: Path, file_name: str, how: str) -> Path:
    """Damage one file of a persisted index the way crashes do; returns its path.

    ``how``: ``"truncate"`` (keep the first half), ``"empty"`` (zero bytes), ``"delete"``, or
    ``"garbage"`` (bytes that are not JSON).
    """
    path = Path(persist_dir) / file_name
    if how == "truncate":
        content = path.read_bytes()
        path.write_bytes(content[: len(content) // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "delete":
        path.unlink()
    elif how == "garbage":
        path.write_bytes(b"\x00\x17 not json \xff")
    else:
        raise ValueError(f"how={how!r}: use 'truncate', 'empty', 'delete' or 'garbage'.")
    return path


def attempt(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Exception | None:
    """Call ``function``; return the exception it raised, or None."""
    try:
        function(*args, **kwargs)
    except Exception as err:  # the caller judges it
        return err
    return None


def check_after_crash(crash: Crash, error: Exception | None, persist_dir: Path, old: set[str] | None, new: set[str]) -> str:
    """Judge a persist that a test tried to crash; return ``"old"``, ``"new"`` or ``"none"``.

    Passes when the failure reached the caller and ``persist_dir`` holds the complete old index (ids
    ``old``) or the complete new one (ids ``new``); with no old index (``old=None``), a missing or
    empty folder also passes. Anything else raises ``AssertionError`` saying what is wrong.
    """
    persist_dir = Path(persist_dir)
    if error is not None and not crash.fired:
        raise AssertionError(f"persist_atomically failed by itself: {type(error).__name__}: {error}") from error
    if crash.fired and error is None:
        raise AssertionError(
            f"The test made persisting fail {crash.where}, but persist_atomically returned normally: "
            "let the error reach the caller, who must know the new index was not saved."
        )
    if old is None and (not persist_dir.exists() or not any(persist_dir.iterdir())):
        return "none"
    try:
        ids = stored_doc_ids(persist_dir)
    except AssertionError as err:
        raise AssertionError(f"After a failure {crash.where}, persist_dir is not a complete index: {err}") from None
    if ids == new:
        return "new"
    if old is not None and ids == old:
        return "old"
    raise AssertionError(f"After a failure {crash.where}, persist_dir holds documents {sorted(ids)}: neither the old index nor the new one.")


for _name in GUARDED_MODULES:  # the reference code, before any learner code runs
    _reference_of(_name)
