"""Deletes the old index before renaming the new one in: a crash between the two leaves no index at all."""

EXPECTED = {"loaded": 2, "built": 2, "corrupt": 3, "atomic_success": 1, "atomic_crash_while_writing": 2,
            "atomic_crash_during_swap": 0}

# %% answer_persist_atomically
def persist_atomically(index, persist_dir):
    target = Path(persist_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        index.storage_context.persist(persist_dir=str(staging))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
