"""Lets the pipeline's DUPLICATES_ONLY strategy decide and finds deleted documents from `get_all_document_hashes()`: both compare texts, not ids, so a document whose text another document already has is never embedded, and of two documents with the same text only one can be found as deleted."""

EXPECTED = {"rerun_embeds_nothing": 3, "changed_doc_only": 3, "new_doc_only": 2, "answers_updated_text": 3,
            "deleted_doc_removed": 2, "survives_crash": 3, "same_text_documents": 0}

# %% answer_ingest
import os
import shutil


def ingest(documents, storage_dir, embed_model):
    storage_dir = Path(storage_dir)
    current = current_version(storage_dir)
    index = load_ingested_index(storage_dir, embed_model) if current else VectorStoreIndex([], embed_model=embed_model)
    pipeline = IngestionPipeline(
        transformations=[make_splitter(), embed_model],
        docstore=SimpleDocumentStore(),
        docstore_strategy=DocstoreStrategy.DUPLICATES_ONLY,  # skips any hash stored under any id
        disable_cache=True,
    )
    if current:
        pipeline.load(str(current / "pipeline"))
    deleted = set(pipeline.docstore.get_all_document_hashes().values()) - {d.id_ for d in documents}  # hash -> one id
    for doc_id in deleted:
        index.delete_ref_doc(doc_id, delete_from_docstore=True)
        pipeline.docstore.delete_document(doc_id, raise_error=False)
    nodes = pipeline.run(documents=documents)
    if not nodes and not deleted:
        return 0
    for doc_id in {node.ref_doc_id for node in nodes}:
        index.delete_ref_doc(doc_id, delete_from_docstore=True)
    index.insert_nodes(nodes)
    version = storage_dir / f"v{int(current.name[1:]) + 1 if current else 1}"
    shutil.rmtree(version, ignore_errors=True)
    index.storage_context.persist(persist_dir=str(version / "index"))
    pipeline.persist(str(version / "pipeline"))
    (storage_dir / "CURRENT.tmp").write_text(version.name, encoding="utf-8")
    os.replace(storage_dir / "CURRENT.tmp", storage_dir / "CURRENT")
    if current:
        shutil.rmtree(current, ignore_errors=True)
    return len(nodes)
