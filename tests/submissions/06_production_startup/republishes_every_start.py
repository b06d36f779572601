"""Forgets the early return when nothing changed: every restart publishes a new version that holds the same chunks. Nothing is embedded, but every start writes, and each write is a crash point for no reason."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 0, "refuses_damaged": 3, "refuses_settings_change": 3, "syncs_changes": 4, "edit_costs_one_document": 2, "crash_keeps_last_good": 3, "same_text_documents": 2}

# %% answer_start
# replace:
    if not changed and not retired and collection.name == (live or {}).get("collection"):
        return open_live_index(folder, embed_model, splitter)  # nothing changed: nothing embedded, nothing written
# with:
