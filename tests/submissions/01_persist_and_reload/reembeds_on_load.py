"""Re-embeds on load: reads the stored nodes back but builds a new index from them, embedding every node again."""

EXPECTED = {"persist_writes_files": 2, "reload_zero_calls": 0, "reload_from_disk": 0, "reload_uses_given_model": 2}

# %% answer_load_persisted_index
def load_persisted_index(persist_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
    nodes = list(storage_context.docstore.docs.values())
    return VectorStoreIndex(nodes, embed_model=embed_model)
