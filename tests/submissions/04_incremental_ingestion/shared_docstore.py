"""Shares the index's docstore and vector store with the pipeline (the pattern lesson 07 warns against): each edit leaves a stale node id in the index struct, `ref_doc_info` raises, and deleted documents stay."""

EXPECTED = {"rerun_embeds_nothing": 3, "changed_doc_only": 3, "new_doc_only": 2, "answers_updated_text": 0,
            "deleted_doc_removed": 0, "survives_crash": 0, "same_text_documents": 0}

# %% answer_ingest
def ingest(documents, storage_dir, embed_model):
    index_dir = Path(storage_dir) / "index"
    if (index_dir / "docstore.json").is_file():
        index = load_ingested_index(storage_dir, embed_model)
    else:
        index = VectorStoreIndex([], embed_model=embed_model)
    stores = index.storage_context
    pipeline = IngestionPipeline(
        transformations=[make_splitter(), embed_model],
        docstore=stores.docstore,
        vector_store=stores.vector_store,
    )
    nodes = pipeline.run(documents=documents)
    index.insert_nodes(nodes)
    stores.persist(persist_dir=str(index_dir))
    return len(nodes)

# %% answer_load
def load_ingested_index(storage_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(Path(storage_dir) / "index"))
    return load_index_from_storage(storage_context, embed_model=embed_model)
