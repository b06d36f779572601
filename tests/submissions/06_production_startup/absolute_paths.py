"""Writes the Chroma database's absolute path into CURRENT and opens the database from there: every start in place works, but a moved folder no longer loads, and a copy of a folder still reads the original's database, so damage to the copy is not seen."""

EXPECTED = {"builds_when_empty": 0, "reloads_zero_calls": 3, "refuses_damaged": 0, "refuses_settings_change": 3, "syncs_changes": 4, "edit_costs_one_document": 2, "crash_keeps_last_good": 3, "same_text_documents": 2}

# %% answer_open
# replace:
    collection = open_collection(open_client(folder), folder, live, embed_model, splitter)
# with:
    client = chromadb.PersistentClient(path=live["chroma"], settings=stores.chroma_settings())  # as CURRENT says
    collection = open_collection(client, folder, live, embed_model, splitter)
# replace:
        return {"collection": str(live["collection"]), "version": int(live["version"])}
# with:
        return {"collection": str(live["collection"]), "version": int(live["version"]), "chroma": live["chroma"]}

# %% answer_start
# replace:
    (folder / (POINTER + ".tmp")).write_text(json.dumps({"collection": collection.name, "version": version}))
# with:
    chroma = str((folder / CHROMA).resolve())  # an absolute path
    (folder / (POINTER + ".tmp")).write_text(json.dumps({"collection": collection.name, "version": version, "chroma": chroma}))
