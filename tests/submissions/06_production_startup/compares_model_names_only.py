"""Checks only the model's name: a change of dimension (text-embedding-3-large at 64 and at 128 share a name) or of chunking goes unnoticed, and the index is used with settings it was not built with."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 0, "syncs_changes": 4, "edit_costs_one_document": 2, "crash_keeps_last_good": 3, "same_text_documents": 2}

# %% answer_open
# replace:
    changed = [f"{key} {built.get(key)!r} when built, {now[key]!r} now" for key in now if built.get(key) != now[key]]
# with:
    changed = [f"embed_model {built['embed_model']!r} when built, {now['embed_model']!r} now"] if built["embed_model"] != now["embed_model"] else []
