"""Persists the pipeline but not the index: later runs know what was embedded, but the vectors themselves are lost."""

EXPECTED = {"rerun_embeds_nothing": 3, "changed_doc_only": 3, "new_doc_only": 2,
            "answers_updated_text": 0, "deleted_doc_removed": 0, "survives_crash": 0, "same_text_documents": 0}

# %% answer_ingest
def ingest(documents, storage_dir, embed_model):
    pipeline_dir = Path(storage_dir) / "pipeline"
    index = VectorStoreIndex([], embed_model=embed_model)
    pipeline = IngestionPipeline(
        transformations=[make_splitter(), embed_model],
        docstore=SimpleDocumentStore(),
        vector_store=SimpleVectorStore(),
        docstore_strategy=DocstoreStrategy.UPSERTS,
        disable_cache=True,
    )
    if pipeline_dir.is_dir():
        pipeline.load(str(pipeline_dir))
    nodes = pipeline.run(documents=documents)
    index.insert_nodes(nodes)
    pipeline.persist(str(pipeline_dir))
    return len(nodes)

# %% answer_load
def load_ingested_index(storage_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(Path(storage_dir) / "index"))
    return load_index_from_storage(storage_context, embed_model=embed_model)
