"""Writes CURRENT in place instead of writing a temporary file and replacing CURRENT with it: a crash while the file is written leaves half a pointer, and the folder no longer opens."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 3, "syncs_changes": 4, "edit_costs_one_document": 2, "crash_keeps_last_good": 0, "same_text_documents": 2}

# %% answer_start
# replace:
    (folder / (POINTER + ".tmp")).write_text(json.dumps({"collection": collection.name, "version": version}))
    os.replace(folder / (POINTER + ".tmp"), folder / POINTER)  # the one step that publishes the new version
# with:
    (folder / POINTER).write_text(json.dumps({"collection": collection.name, "version": version}))  # publishes it
