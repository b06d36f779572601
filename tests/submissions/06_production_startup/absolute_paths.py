"""Writes the live version's absolute path into CURRENT: every visible start works in place, but a moved folder no longer loads, and a copy of a folder still points at the original, so a damaged copy is not seen."""

EXPECTED = {"builds_when_empty": 0, "reloads_zero_calls": 3, "refuses_damaged": 0, "refuses_settings_change": 3, "syncs_changes": 4, "crash_keeps_last_good": 3}

# %% answer_open
POINTER = "CURRENT"


def open_live_index(folder: str | Path, embed_model: BaseEmbedding, splitter: SentenceSplitter) -> VectorStoreIndex:
    """Load the index start_index last published in folder, without embedding or writing anything."""
    version = live_version(Path(folder))
    if version is None:
        raise FileNotFoundError(f"{Path(folder) / POINTER} does not exist: nothing was published in {folder} yet.")
    check_settings(version, embed_model, splitter)
    try:
        return open_version(version, embed_model, splitter)
    except (ValueError, KeyError, OSError, ChromaError) as error:
        raise DamagedIndexError(f"{version} does not load ({type(error).__name__}: {error}). Not building over it: "
                                "point CURRENT at an earlier version, or move the folder away.") from error


VERSION_FILES = ("manifest.json", "index/docstore.json", "index/index_store.json", "chroma/chroma.sqlite3")


def live_version(folder: Path) -> Path | None:
    """The version folder CURRENT names; None if nothing was published; DamagedIndexError if it is incomplete."""
    if not (folder / POINTER).is_file():
        foreign = sorted(p.name for p in folder.iterdir() if p.name not in ("versions", POINTER + ".tmp")) if folder.is_dir() else []
        if foreign:
            raise DamagedIndexError(f"{folder} holds {', '.join(foreign)} but no {POINTER}: not an index start_index "
                                    f"published. Not building over it: move the folder away to build one there.")
        return None  # empty, or only versions that never went live
    version = Path((folder / POINTER).read_text(encoding="utf-8").strip())  # CURRENT holds the absolute path
    missing = [name for name in VERSION_FILES if not (version / name).is_file()]
    if missing:
        raise DamagedIndexError(f"{folder}: {POINTER} names {version.name}, which lacks {', '.join(missing)}. Point "
                                f"{POINTER} at an earlier version, or move the folder away to build a new index.")
    return version


def settings_of(embed_model: BaseEmbedding, splitter: SentenceSplitter) -> dict:
    dimension = persistlab.embedding_dimension(embed_model.model_name, embed_model.dimensions)
    return {"embed_model": embed_model.model_name, "dimension": dimension, "chunking": chunking_of(splitter)}


def check_settings(version: Path, embed_model: BaseEmbedding, splitter: SentenceSplitter) -> None:
    try:
        recorded = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    except ValueError as error:
        raise DamagedIndexError(f"{version / 'manifest.json'} is not valid JSON ({error}). Point CURRENT at an "
                                "earlier version, or move the folder away.") from error
    changed = [f"{key} {recorded.get(key)!r} when built, {value!r} now"
               for key, value in settings_of(embed_model, splitter).items() if recorded.get(key) != value]
    if changed:
        raise SettingsMismatchError(f"{version.parent.parent}: " + "; ".join(changed) + ". Start with the settings "
                                    "it was built with, or pass new_settings=True to build a new index beside it.")


def open_version(version: Path, embed_model: BaseEmbedding, splitter: SentenceSplitter, documents=None) -> VectorStoreIndex:
    """The index in one version folder (vectors in Chroma, hashes in index/); built from documents if given."""
    client = chromadb.PersistentClient(path=str(version / "chroma"), settings=stores.chroma_settings())
    if documents is not None:
        collection = client.create_collection("documents", metadata=stores.CHROMA_METADATA, embedding_function=None)
        context = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
        return VectorStoreIndex.from_documents(documents, storage_context=context, embed_model=embed_model,
                                               transformations=[splitter])
    store = ChromaVectorStore(chroma_collection=client.get_collection("documents", embedding_function=None))
    context = StorageContext.from_defaults(vector_store=store, persist_dir=str(version / "index"))
    return load_index_from_storage(context, embed_model=embed_model, transformations=[splitter])


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
        shutil.copytree(live, version)  # the live version is never written to
        index = open_version(version, embed_model, splitter)
        for doc_id in sorted(gone):
            index.delete_ref_doc(doc_id)
            index.docstore.delete_document(doc_id, raise_error=False)
        index.refresh_ref_docs(documents)
    index.storage_context.persist(persist_dir=str(version / "index"))
    (version / "manifest.json").write_text(json.dumps(settings_of(embed_model, splitter)), encoding="utf-8")
    (folder / (POINTER + ".tmp")).write_text(str(version.resolve()), encoding="utf-8")  # an absolute path
    os.replace(folder / (POINTER + ".tmp"), folder / POINTER)  # publishes it
    for old in sorted((folder / "versions").glob("v*"))[:-2]:  # keep the live one and the one before
        shutil.rmtree(old)
    return index
