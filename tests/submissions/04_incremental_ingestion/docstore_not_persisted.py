"""Ingests without a persisted docstore: the pipeline's memory of what it embedded is thrown away after each run, so every run embeds every document again."""

EXPECTED = {"rerun_embeds_nothing": 0, "changed_doc_only": 0, "new_doc_only": 0,
            "answers_updated_text": 3, "deleted_doc_removed": 0, "survives_crash": 0, "same_text_documents": 0}

# %% answer_ingest
def ingest(documents, storage_dir, embed_model):
    index_dir = Path(storage_dir) / "index"
    if (index_dir / "docstore.json").is_file():
        index = load_ingested_index(storage_dir, embed_model)
    else:
        index = VectorStoreIndex([], embed_model=embed_model)
    pipeline = IngestionPipeline(
        transformations=[make_splitter(), embed_model],
        docstore=SimpleDocumentStore(),
        vector_store=SimpleVectorStore(),
        docstore_strategy=DocstoreStrategy.UPSERTS,
        disable_cache=True,
    )
    nodes = pipeline.run(documents=documents)
    for doc_id in {node.ref_doc_id for node in nodes}:
        index.delete_ref_doc(doc_id, delete_from_docstore=True)
    index.insert_nodes(nodes)
    index.storage_context.persist(persist_dir=str(index_dir))
    return len(nodes)

# %% answer_load
def load_ingested_index(storage_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(Path(storage_dir) / "index"))
    return load_index_from_storage(storage_context, embed_model=embed_model)
