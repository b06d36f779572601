"""Swallows the error: a failed publish is caught and the old version returned, so the caller believes the new index is live."""

EXPECTED = {"publish_writes_to_fs": 2, "load_zero_calls": 2, "republish_switches": 2, "crash_keeps_current": 0,
            "missing_current": 1}

# %% answer_publish
def publish_index(index, fs, root):
    root = root.rstrip("/")
    version = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    try:
        index.storage_context.persist(persist_dir=f"{root}/versions/{version}", fs=fs)
    except Exception as err:
        print(f"publish failed: {err}")
        return fs.cat_file(f"{root}/CURRENT").decode().strip() if fs.exists(f"{root}/CURRENT") else ""
    fs.pipe_file(f"{root}/CURRENT", version.encode())
    return version
