"""Deletes the old chunks of edited and deleted documents at once instead of marking them retired: the live version is changed before the next one is published. Every start ends right, but a reader of the live version sees an edited document vanish until CURRENT moves, and after a crash in between the published version has lost it."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 3, "syncs_changes": 4, "edit_costs_one_document": 2, "crash_keeps_last_good": 0, "same_text_documents": 2}

# %% answer_start
# replace:
        collection.update(ids=retired, metadatas=[{"retired": version}] * len(retired))
# with:
        collection.delete(ids=retired)  # no reader needs them once the new chunks are in
