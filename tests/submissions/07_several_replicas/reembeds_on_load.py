"""Checks the model at every load by embedding every stored chunk again and comparing: every reader, and every start that loads, pays for the whole index."""

EXPECTED = {"builds_and_reloads": 0, "syncs_changes": 0, "three_replicas_at_once": 0, "killed_writer": 0}

# %% answer_open
def open_published_index(url: str, embed_model: BaseEmbedding, splitter: SentenceSplitter) -> tuple[str, VectorStoreIndex]:
    """The published version and its index, its vectors checked against the model."""
    with sa.create_engine(url, poolclass=NullPool).connect() as db:
        version = live_version(db)
    if version is None:
        raise LookupError(f"Nothing is published in {url} yet.")
    index = load_index_from_storage(version_stores(url, version, embed_model), index_id=INDEX_ID,
                                    embed_model=embed_model, transformations=[splitter])
    chunks = index.vector_store.get_nodes(filters=MetadataFilters(filters=[]))
    fresh = embed_model.get_text_embedding_batch([chunk.get_content(metadata_mode="embed") for chunk in chunks])
    if len(fresh) != len(chunks):
        raise ValueError("the stored vectors do not match the model")
    return version, index
