"""The usage meter counts exactly, sync and async, globally and per block."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core import Document, VectorStoreIndex

import persistlab
from persistlab.learning import meter
from persistlab.simulator.tokens import count_tokens

DOCS = [
    Document(text=t)
    for t in ("Salt cures ham.", "Ice houses kept ice through summer.", "Jam is fruit boiled with sugar.")
]


@pytest.fixture()
def embed_model():
    return persistlab.embedding_model("text-embedding-3-small", embed_batch_size=2)


def test_counts_requests_texts_tokens_and_cost_exactly(embed_model) -> None:
    with persistlab.metered() as m:
        embed_model.get_text_embedding_batch([d.text for d in DOCS])
    tokens = sum(count_tokens(d.text, "text-embedding-3-small") for d in DOCS)
    assert (m.requests, m.texts, m.tokens) == (2, 3, tokens)  # batch size 2: two requests
    assert m.cost_usd == pytest.approx(tokens * 0.02 / 1_000_000)
    assert m.by_model["text-embedding-3-small"]["texts"] == 3


def test_blocks_nest_and_the_global_total_keeps_counting(embed_model) -> None:
    before = persistlab.usage.requests
    with persistlab.metered() as outer:
        embed_model.get_query_embedding("salt")
        with persistlab.metered() as inner:
            embed_model.get_query_embedding("ice")
    assert (outer.requests, inner.requests) == (2, 1)
    assert persistlab.usage.requests - before == 2


def test_async_paths_are_metered_and_answered(embed_model) -> None:
    async def go() -> list[list[float]]:
        return await embed_model.aget_text_embedding_batch([d.text for d in DOCS])

    with persistlab.metered() as m:
        vectors = asyncio.run(go())
    assert len(vectors) == 3 and len(vectors[0]) == 1536
    assert (m.requests, m.texts) == (2, 3)
    assert vectors == embed_model.get_text_embedding_batch([d.text for d in DOCS])


def test_index_build_and_query_costs_what_the_meter_says(embed_model) -> None:
    with persistlab.metered() as build:
        index = VectorStoreIndex.from_documents(DOCS, embed_model=embed_model)
    with persistlab.metered() as query:
        hits = index.as_retriever(similarity_top_k=1).retrieve("How is ham cured?")
    assert build.texts == 3 and query.requests == 1 and query.texts == 1
    assert hits[0].node.text == "Salt cures ham."


def test_chat_is_metered_separately_and_streams() -> None:
    llm = persistlab.chat_model()
    with persistlab.metered() as m:
        pieces = [
            r.delta
            for r in llm.stream_complete(
                "Context information is below.\n-----\nIce houses kept ice.\n-----\nQuery: ice?\nAnswer: "
            )
        ]
        llm.complete("hello")
    assert "".join(pieces) == "Ice houses kept ice."
    assert m.chat_requests == 2 and m.requests == 0
    assert m.chat_input_tokens > 0
    assert "LLM requests: 2" in m.summary() and "LLM" not in meter.Usage().summary()


def test_reset_and_unknown_models_cost_nothing() -> None:
    u = meter.Usage()
    u.add_embedding("some-other-model", 1, 1000)
    assert u.cost_usd == 0 and u.tokens == 1000
    u.reset()
    assert (u.requests, u.tokens, u.by_model) == (0, 0, {})
    assert "embedding requests: 0" in u.summary()


def test_nested_blocks_that_counted_alike_each_close_their_own() -> None:
    """Usage compares by value: the outer block, equal to the inner one when it closes, must keep counting."""
    with persistlab.metered() as outer:
        with persistlab.metered() as inner:
            pass
        meter.record_embedding("text-embedding-3-small", 1, 5)
    assert (outer.requests, inner.requests) == (1, 0)
