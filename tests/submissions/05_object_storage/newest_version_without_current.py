"""Falls back to the newest version folder when CURRENT is missing, so an index that was never published (or only half) gets loaded."""

EXPECTED = {"publish_writes_to_fs": 2, "load_zero_calls": 2, "republish_switches": 2, "crash_keeps_current": 3,
            "missing_current": 0}

# %% answer_load
def load_published_index(fs, root, embed_model):
    root = root.rstrip("/")
    pointer = f"{root}/CURRENT"
    if fs.exists(pointer):
        version = fs.cat_file(pointer).decode().strip()
    else:
        versions = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/versions", detail=False))
        version = versions[-1]
    storage_context = StorageContext.from_defaults(persist_dir=f"{root}/versions/{version}", fs=fs)
    return load_index_from_storage(storage_context, embed_model=embed_model)
