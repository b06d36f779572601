"""Hostile: load_persisted_index kills the kernel (os._exit). The test that calls it and every later
cell score zero; the test before it keeps its points."""

EXPECTED = {"persist_writes_files": 2, "reload_zero_calls": 0, "reload_from_disk": 0, "reload_uses_given_model": 0}

# %% answer_load_persisted_index
def load_persisted_index(persist_dir, embed_model):
    import os

    os._exit(1)
