"""Always publishes to versions/latest: a new publish overwrites the version readers are loading, and a failed one damages it."""

EXPECTED = {"publish_writes_to_fs": 2, "load_zero_calls": 2, "republish_switches": 0, "crash_keeps_current": 0,
            "missing_current": 1}

# %% answer_publish
def publish_index(index, fs, root):
    root = root.rstrip("/")
    index.storage_context.persist(persist_dir=f"{root}/versions/latest", fs=fs)
    fs.pipe_file(f"{root}/CURRENT", b"latest")
    return "latest"
