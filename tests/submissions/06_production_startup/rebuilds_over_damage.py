"""Treats a damaged folder as an empty one: deletes it and builds again. The service starts, but the cause is hidden, the whole corpus is paid again, and whatever was in the folder is gone."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 0, "refuses_settings_change": 3, "syncs_changes": 4, "crash_keeps_last_good": 3, "same_text_documents": 2}

# %% answer_start
# replace:
    live = live_version(folder)  # refuses a damaged folder before anything is written
    index = None
    if live is not None:
        try:
            index = open_live_index(folder, embed_model, splitter)
        except SettingsMismatchError:
            if not new_settings:
                raise  # index stays None: build a new index beside the live one
# with:
    try:
        live = live_version(folder)
        index = open_live_index(folder, embed_model, splitter) if live is not None else None
    except SettingsMismatchError:
        if not new_settings:
            raise
        index = None
    except DamagedIndexError:  # "self-healing": start over
        shutil.rmtree(folder)
        live, index = None, None
