"""Never deletes: edits and additions are handled (atomically, like the reference), but a document missing from `documents` keeps its chunks in the index forever."""

EXPECTED = {"rerun_embeds_nothing": 3, "changed_doc_only": 3, "new_doc_only": 2, "answers_updated_text": 3,
            "deleted_doc_removed": 0, "survives_crash": 3, "same_text_documents": 0}

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
        vector_store=SimpleVectorStore(),
        docstore_strategy=DocstoreStrategy.UPSERTS,
        disable_cache=True,
    )
    if current:
        pipeline.load(str(current / "pipeline"))
    nodes = pipeline.run(documents=documents)
    if not nodes:
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
