"""Swallows the error: the swap is atomic, but a failure is caught and ignored, so the caller believes the new index was saved."""

EXPECTED = {"loaded": 2, "built": 2, "corrupt": 3, "atomic_success": 1, "atomic_crash_while_writing": 0,
            "atomic_crash_during_swap": 0}

# %% answer_persist_atomically
def persist_atomically(index, persist_dir):
    target = Path(persist_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    backup = None
    try:
        index.storage_context.persist(persist_dir=str(staging))
        if target.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, backup / "index")
        try:
            os.replace(staging, target)
        except BaseException:
            if backup is not None:
                os.replace(backup / "index", target)
            raise
    except Exception as err:
        print(f"could not persist: {err}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if backup is not None:
            shutil.rmtree(backup, ignore_errors=True)
