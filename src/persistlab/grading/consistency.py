"""What "a consistent persisted index" means in this course, as one check that tests and graders share.

A ``VectorStoreIndex`` keeps one logical index in up to three places: the index struct (its list of node
ids, in ``index_store.json``), the vector store (one vector per node id) and the docstore (the nodes' text
and, per source document, ``ref_doc_info`` and the document's hash). Updating one place and not another
leaves an index that still answers queries but is wrong. :func:`check_consistent` raises an
``AssertionError`` naming the first thing that disagrees::

    from persistlab.grading.consistency import check_consistent
    check_consistent(index, documents, splitter=SentenceSplitter(chunk_size=512))

It checks, with public LlamaIndex APIs only:

1. the index struct's node ids, the vector store's ids and the docstore's nodes are the same set;
2. ``index.ref_doc_info`` does not raise, and lists exactly those nodes under their source documents;
3. given the current ``documents`` (all of them): the index holds exactly these documents (nothing of a
   deleted one; a document that makes no chunk with something to embed, an empty one, holds none), and each
   document's chunks are what ``splitter`` makes of its current text (nothing of an older version);
4. the hash of every current document is where ``refresh_ref_docs`` (or a pipeline) will look for it (one that
   makes nothing to embed may have none), and no hash of a deleted document is left there (a deleted document
   restored unchanged would be skipped).

Vector stores differ in what they expose. ``SimpleVectorStore`` lists its ids through its public ``data``
field; stores that keep the text (Chroma, :class:`persistlab.stores.NumpyVectorStore`) return their nodes from
``get_nodes``, and the index then keeps no nodes in its struct or docstore (so there is no ``ref_doc_info``
to check: LlamaIndex does not record it for such stores). FAISS stores offer no public way to list their
ids: for them only the number of vectors (``client.ntotal``) is compared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.node_parser import NodeParser
from llama_index.core.storage.docstore.types import BaseDocumentStore
from llama_index.core.vector_stores import MetadataFilters, SimpleVectorStore

from persistlab.grading.documents import chunk_texts

__all__ = ["INDEX_DOCSTORE", "check_consistent", "stored_nodes", "vector_ids"]

INDEX_DOCSTORE = "index"
"""``hashes=`` value meaning: the document hashes are in the index's own docstore (``refresh_ref_docs``)."""


def _short(ids: Iterable[str], limit: int = 4) -> str:
    ids = sorted(ids)
    shown = ", ".join(repr(i) for i in ids[:limit])
    return f"{shown}, ... ({len(ids)} in all)" if len(ids) > limit else shown


def _all_nodes(vector_store: Any, filters: MetadataFilters | None = None) -> list[Any]:
    """Every node a text-keeping store holds (that ``filters`` match). PGVectorStore lists nodes only for ids or a
    filter: an empty filter matches them all."""
    if filters is not None:
        return vector_store.get_nodes(node_ids=None, filters=filters)
    try:
        return vector_store.get_nodes(node_ids=None)
    except AssertionError:  # PGVectorStore: "Either node_ids or filters must be provided"
        return vector_store.get_nodes(node_ids=None, filters=MetadataFilters(filters=[]))


def vector_ids(vector_store: Any, filters: MetadataFilters | None = None) -> set[str] | None:
    """The node ids a vector store holds a vector for (that ``filters`` match, in a text-keeping store), or None if
    the store cannot list them publicly."""
    if isinstance(vector_store, SimpleVectorStore):
        return set(vector_store.data.embedding_dict)
    if getattr(vector_store, "stores_text", False):
        return {node.node_id for node in _all_nodes(vector_store, filters)}
    return None  # e.g. FaissVectorStore, FaissMapVectorStore: only a count (client.ntotal)


def _vector_count(vector_store: Any) -> int | None:
    client = getattr(vector_store, "client", None)
    return getattr(client, "ntotal", None)


def stored_nodes(index: VectorStoreIndex, filters: MetadataFilters | None = None) -> dict[str, Any]:
    """``{node id: node}`` of every chunk the index holds (from its docstore, or a text-keeping vector store, where
    ``filters`` chooses the chunks of one version)."""
    if index.vector_store.stores_text:
        return {node.node_id: node for node in _all_nodes(index.vector_store, filters)}
    docstore = index.docstore
    return {node_id: docstore.get_node(node_id) for node_id in index.index_struct.nodes_dict.values()}


def _check_stores_agree(index: VectorStoreIndex, filters: MetadataFilters | None) -> set[str]:
    store = index.vector_store
    in_docstore = set(index.docstore.docs)
    if store.stores_text:
        in_struct = set(index.index_struct.nodes_dict.values())
        assert not in_struct, (
            f"the index struct lists node ids {_short(in_struct)}, but its vector store keeps the text and "
            "the index should list none"
        )
        ids = vector_ids(store, filters) or set()
        extra = in_docstore - ids
        assert not extra, f"the docstore holds nodes {_short(extra)} that the vector store does not"
        return ids
    in_struct = set(index.index_struct.nodes_dict.values())
    listed = vector_ids(store)
    if listed is None:
        count = _vector_count(store)
        assert count is None or count == len(in_struct), (
            f"the index lists {len(in_struct)} node ids but its {type(store).__name__} holds {count} vectors"
        )
    else:
        assert in_struct == listed, (
            f"the index lists {len(in_struct)} node ids but the vector store holds {len(listed)} vectors: "
            f"ids without a vector: {_short(in_struct - listed) or 'none'}; "
            f"vectors the index does not list: {_short(listed - in_struct) or 'none'}"
        )
    assert in_docstore == in_struct, (
        f"the index lists {len(in_struct)} node ids but its docstore holds {len(in_docstore)} entries: "
        f"missing from the docstore: {_short(in_struct - in_docstore) or 'none'}; "
        f"in the docstore only: {_short(in_docstore - in_struct) or 'none'}"
    )
    return in_struct


def _check_ref_doc_info(index: VectorStoreIndex, nodes: dict[str, Any]) -> None:
    by_document: dict[str, set[str]] = defaultdict(set)
    for node_id, node in nodes.items():
        assert node.ref_doc_id, f"node {node_id!r} has no source document (ref_doc_id)"
        by_document[node.ref_doc_id].add(node_id)
    if index.vector_store.stores_text:
        return  # LlamaIndex keeps no ref_doc_info for stores that hold the text
    try:
        info = index.ref_doc_info
    except Exception as error:  # noqa: BLE001 (any failure here is the finding)
        raise AssertionError(f"index.ref_doc_info raises {type(error).__name__}: {error}") from error
    listed = {doc_id: set(entry.node_ids) for doc_id, entry in info.items()}
    assert listed == dict(by_document), (
        f"ref_doc_info lists documents {_short(listed)} but the nodes come from {_short(by_document)}; "
        + "; ".join(
            f"{d}: ref_doc_info {len(listed.get(d, ()))} nodes, index {len(by_document.get(d, ()))}"
            for d in sorted(set(listed) | set(by_document))
            if listed.get(d) != by_document.get(d)
        )
    )


def _check_documents(nodes: dict[str, Any], documents: Sequence[Document], splitter: NodeParser) -> None:
    current = {document.id_: document for document in documents}
    held: dict[str, list[str]] = defaultdict(list)
    for node in nodes.values():
        held[node.ref_doc_id].append(node.get_content())
    gone = set(held) - set(current)
    assert not gone, f"the index still holds chunks of documents that no longer exist: {_short(gone)}"
    made = {doc_id: sorted(chunk_texts(document, splitter)) for doc_id, document in current.items()}
    missing = {doc_id for doc_id, texts in made.items() if texts} - set(held)  # an empty text makes no chunk
    assert not missing, f"the index holds no chunk of documents {_short(missing)}"
    for doc_id, expected in sorted(made.items()):
        found = sorted(held[doc_id])
        if found != expected:
            stale = [text for text in found if text not in expected]
            raise AssertionError(
                f"{doc_id}: the index holds {len(found)} chunks, its current text makes {len(expected)}; "
                f"{len(stale)} stored chunks are not from the current text"
                + (f", e.g. {stale[0][:80]!r}" if stale else "")
            )


def _check_hashes(
    docstore: BaseDocumentStore, documents: Sequence[Document], where: str, nodes: Iterable[str], splitter: NodeParser
) -> None:
    left = set(docstore.get_all_document_hashes().values()) - {d.id_ for d in documents} - set(nodes)
    assert not left, (
        f"{where} still holds the hash of deleted documents {_short(left)}: if one comes back unchanged, "
        "refresh_ref_docs (or the pipeline) will skip it and never embed it; delete the hash with the document"
    )
    for document in documents:
        stored = docstore.get_document_hash(document.id_)
        if stored is None and not chunk_texts(document, splitter):
            continue  # nothing to embed (an empty document): treated as new next time, it costs nothing
        assert stored is not None, (
            f"{where} has no hash for document {document.id_!r}: refresh_ref_docs (or the pipeline) would treat "
            "it as new and embed it again"
        )
        assert stored == document.hash, (
            f"{where} holds an outdated hash for {document.id_!r}: the next refresh would embed it again"
        )


def check_consistent(
    index: VectorStoreIndex,
    documents: Sequence[Document] | None = None,
    *,
    splitter: NodeParser | None = None,
    hashes: BaseDocumentStore | str | None = INDEX_DOCSTORE,
    filters: MetadataFilters | None = None,
) -> None:
    """Raise AssertionError naming what disagrees, unless ``index`` is a consistent persisted index.

    ``documents`` is the complete current set of source documents; without it only the stores are compared
    with each other. ``splitter`` is the node parser the index was built with (it is not persisted, so it must
    be given to compare chunks with the current texts). ``hashes`` says where the documents' hashes are kept:
    ``"index"`` (the index's docstore, as ``refresh_ref_docs`` needs), another docstore (an ingestion
    pipeline's), or None when the caller cannot see them (it then checks reruns by counting embeddings).
    ``filters`` (text-keeping stores) are the metadata filters a reader queries with: the index is the chunks they
    match, as when one collection holds several versions and each reader sees one.
    """
    _check_stores_agree(index, filters)
    nodes = stored_nodes(index, filters)
    _check_ref_doc_info(index, nodes)
    if documents is None:
        return
    if splitter is None:
        raise ValueError("check_consistent needs splitter= (the index's node parser) to compare chunks with texts")
    _check_documents(nodes, documents, splitter)
    if hashes == INDEX_DOCSTORE:
        _check_hashes(index.docstore, documents, "the index's docstore", nodes, splitter)
    elif hashes is not None:
        assert not isinstance(hashes, str), f"hashes= must be 'index', a docstore or None, not {hashes!r}"
        _check_hashes(hashes, documents, "the docstore given as hashes=", nodes, splitter)
