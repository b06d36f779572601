"""Checks only the model's name: a change of dimension (text-embedding-3-large at 64 and at 128 share a name) or of chunking goes unnoticed, and the index is used with settings it was not built with."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 0, "syncs_changes": 4, "crash_keeps_last_good": 3, "same_text_documents": 2}

# %% answer_open
# replace:
    changed = [f"{key} {recorded.get(key)!r} when built, {value!r} now"
               for key, value in settings_of(embed_model, splitter).items() if recorded.get(key) != value]
# with:
    changed = [f"embed_model {recorded['embed_model']!r} when built, {embed_model.model_name!r} now"] if recorded["embed_model"] != embed_model.model_name else []
