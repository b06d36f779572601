"""Hostile: load_persisted_index loops forever and swallows the interrupt. The first test that calls it
is stopped at the time limit, the cells after it are not run; the test before it keeps its points."""

EXPECTED = {"persist_writes_files": 2, "reload_zero_calls": 0, "reload_from_disk": 0, "reload_uses_given_model": 0}

# %% answer_load_persisted_index
def load_persisted_index(persist_dir, embed_model):
    import time

    while True:
        try:
            time.sleep(0.05)
        except BaseException:
            pass
