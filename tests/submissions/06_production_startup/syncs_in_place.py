"""Syncs the live version in place instead of a copy: every sync works, but a crash between Chroma's writes and the docstore's leaves the published index damaged."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 3, "syncs_changes": 4, "crash_keeps_last_good": 0}

# %% answer_start
def start_index(documents: list[Document], folder: str | Path, embed_model: BaseEmbedding,
                splitter: SentenceSplitter, new_settings: bool = False) -> VectorStoreIndex:
    """The index in folder, brought up to date with documents (all of them); built if there is none."""
    folder = Path(folder)
    live = live_version(folder)  # refuses a damaged folder before anything is written
    index = None
    if live is not None:
        try:
            index = open_live_index(folder, embed_model, splitter)
        except SettingsMismatchError:
            if not new_settings:
                raise  # index stays None: build a new index beside the live one
    if index is not None:
        gone = set(index.docstore.get_all_document_hashes().values()) - {d.id_ for d in documents}
        if not gone and all(index.docstore.get_document_hash(d.id_) == d.hash for d in documents):
            return index  # nothing changed: nothing embedded, nothing written
    names = sorted((folder / "versions").glob("v*"))
    version = folder / "versions" / f"v{int(names[-1].name[1:]) + 1 if names else 1:06d}"  # never reuse a name
    for leftover in names:
        if live is None or leftover.name > live.name:  # never went live
            shutil.rmtree(leftover)
    if index is None:
        index = open_version(version, embed_model, splitter, documents)
    else:
        version = live  # sync the live version in place: no copy to pay for
        index = open_version(version, embed_model, splitter)
        for doc_id in sorted(gone):
            index.delete_ref_doc(doc_id)
            index.docstore.delete_document(doc_id, raise_error=False)
        index.refresh_ref_docs(documents)
    index.storage_context.persist(persist_dir=str(version / "index"))
    (version / "manifest.json").write_text(json.dumps(settings_of(embed_model, splitter)), encoding="utf-8")
    (folder / (POINTER + ".tmp")).write_text(version.name, encoding="utf-8")
    os.replace(folder / (POINTER + ".tmp"), folder / POINTER)  # publishes it
    for old in sorted((folder / "versions").glob("v*"))[:-2]:  # keep the live one and the one before
        shutil.rmtree(old)
    return index
