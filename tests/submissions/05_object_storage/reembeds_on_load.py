"""Re-embeds on load: reads the published nodes back but builds a new index from them, embedding every node again."""

EXPECTED = {"publish_writes_to_fs": 2, "load_zero_calls": 0, "republish_switches": 2, "crash_keeps_current": 3,
            "missing_current": 1}

# %% answer_load
def load_published_index(fs, root, embed_model):
    root = root.rstrip("/")
    pointer = f"{root}/CURRENT"
    if not fs.exists(pointer):
        raise FileNotFoundError(f"{pointer} not found")
    version = fs.cat_file(pointer).decode().strip()
    storage_context = StorageContext.from_defaults(persist_dir=f"{root}/versions/{version}", fs=fs)
    return VectorStoreIndex(list(storage_context.docstore.docs.values()), embed_model=embed_model)
