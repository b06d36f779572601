"""Treats a damaged folder as an empty one: deletes it and builds again. The service starts, but the cause is hidden, the whole corpus is paid again, and whatever was in the folder is gone."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 0, "refuses_settings_change": 3, "syncs_changes": 4, "edit_costs_one_document": 2, "crash_keeps_last_good": 3, "same_text_documents": 2}

# %% answer_start
# replace:
    folder, live = Path(folder), read_pointer(folder)  # refuses a damaged folder before anything is written
    client, collection, version = open_client(folder), None, 1
    if live is not None:
        try:
            collection, version = open_collection(client, folder, live, embed_model, splitter), live["version"] + 1
        except SettingsMismatchError:
            if not new_settings:
                raise  # otherwise a new collection is built beside the live one, which stays published
# with:
    import shutil

    folder = Path(folder)
    try:
        live = read_pointer(folder)
        client, collection, version = open_client(folder), None, 1
        if live is not None:
            collection, version = open_collection(client, folder, live, embed_model, splitter), live["version"] + 1
    except SettingsMismatchError:
        if not new_settings:
            raise
    except DamagedIndexError:  # "self-healing": start over
        shutil.rmtree(folder)
        live, client, collection, version = None, open_client(folder), None, 1
