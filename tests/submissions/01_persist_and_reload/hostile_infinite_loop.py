"""Hostile: an endless loop at the top of an answer cell. The cell is interrupted at the time limit,
load_persisted_index is never defined, and every later cell still runs. (It sleeps rather than
spins only to leave the CPU to the other submissions being graded meanwhile.)"""

EXPECTED = {"persist_writes_files": 2, "reload_zero_calls": 0, "reload_from_disk": 0, "reload_uses_given_model": 0}

# %% answer_load_persisted_index
import time

while True:
    time.sleep(0.1)


def load_persisted_index(persist_dir, embed_model):
    storage_context = StorageContext.from_defaults(persist_dir=str(persist_dir))
    return load_index_from_storage(storage_context, embed_model=embed_model)
