"""Backend switch: simulator by default, real API only with a key, and never the network in tests."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from llama_index.core import Settings
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.llms.openai import OpenAI

import persistlab
from persistlab import models
from persistlab.simulator import netguard


def test_setup_uses_the_real_openai_classes_on_the_simulator(monkeypatch, capsys) -> None:
    monkeypatch.delenv("PERSISTLAB_BACKEND", raising=False)
    persistlab.setup()
    assert "offline simulator" in capsys.readouterr().out
    assert isinstance(Settings.embed_model, OpenAIEmbedding) and isinstance(Settings.llm, OpenAI)
    assert Settings.embed_model.api_base == models.SIMULATED_API_BASE
    assert len(Settings.embed_model.get_query_embedding("salt")) == 1536


@pytest.mark.parametrize(
    ("model", "dimensions", "size"),
    [
        ("text-embedding-3-small", None, 1536),
        ("text-embedding-3-large", None, 3072),
        ("text-embedding-3-large", 1024, 1024),
        ("text-embedding-ada-002", None, 1536),
    ],
)
def test_factory_gives_each_model_its_dimension(model: str, dimensions: int | None, size: int) -> None:
    embed = persistlab.embedding_model(model, dimensions=dimensions)
    assert embed.model_name == model
    assert len(embed.get_text_embedding("pickled herring")) == size == persistlab.embedding_dimension(model, dimensions)


def test_factory_refuses_unknown_models_and_fixed_size_reduction() -> None:
    with pytest.raises(ValueError, match="Unsupported embedding model 'text-embedding-4'"):
        persistlab.embedding_model("text-embedding-4")
    with pytest.raises(ValueError, match="fixed size of 1536"):
        persistlab.embedding_model("text-embedding-ada-002", dimensions=512)


def test_openai_backend_without_a_key_says_what_to_set(monkeypatch) -> None:
    monkeypatch.setenv("PERSISTLAB_BACKEND", "openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(models.BackendConfigError, match="set OPENAI_API_KEY"):
        persistlab.setup(quiet=True)


def test_openai_backend_with_a_key_targets_the_real_api_and_is_blocked_here(monkeypatch) -> None:
    monkeypatch.setenv("PERSISTLAB_BACKEND", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    embed = persistlab.embedding_model(max_retries=0)
    assert embed.api_base.startswith("https://api.openai.com")
    with pytest.raises(Exception) as caught:  # the guard stops it before any packet leaves
        embed.get_query_embedding("x")
    chain, error = [], caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, netguard.NetworkLeakError) for e in chain), chain


def test_unknown_backend_name_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("PERSISTLAB_BACKEND", "azure")
    with pytest.raises(models.BackendConfigError, match="PERSISTLAB_BACKEND=simulator"):
        models.backend_name()


def test_network_guard_fails_loudly_outside_loopback_only() -> None:
    with socket.socket() as s, pytest.raises(netguard.NetworkLeakError, match="Blocked a connection"):
        s.connect(("93.184.216.34", 443))
    with pytest.raises(netguard.NetworkLeakError, match="api.openai.com"):
        socket.getaddrinfo("api.openai.com", 443)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())  # loopback is allowed


def test_import_is_cheap_and_loads_no_llama_index() -> None:
    code = "import sys, persistlab; print('llama_index' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_sentence_splitter_works_offline_in_this_install() -> None:
    # nltk refuses hard-linked data files; course.py installs with copies so this keeps working.
    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter

    nodes = SentenceSplitter(chunk_size=64, chunk_overlap=0).get_nodes_from_documents(
        [Document(text="Salt is old. " * 100)]
    )
    assert len(nodes) > 1
