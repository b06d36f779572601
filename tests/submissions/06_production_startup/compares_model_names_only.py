"""Checks only the model's name: a change of dimension (text-embedding-3-large at 64 and at 128 share a name) or of chunking goes unnoticed, and the index is used with settings it was not built with."""

EXPECTED = {"builds_when_empty": 3, "reloads_zero_calls": 3, "refuses_damaged": 3, "refuses_settings_change": 0, "syncs_changes": 4, "crash_keeps_last_good": 3}

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
    version = folder / "versions" / (folder / POINTER).read_text(encoding="utf-8").strip()
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
    changed = [f"embed_model {recorded['embed_model']!r} when built, {embed_model.model_name!r} now"] if recorded["embed_model"] != embed_model.model_name else []
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
