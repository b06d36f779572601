"""The course's text data: a small hand-written corpus, its questions, and synthetic corpora.

- :func:`load_documents` reads ``data/preserving/*.md`` (44 short texts on preserving food) into
  LlamaIndex ``Document`` objects whose ids are the file names, so re-loading the same files gives the same
  ids and ``index.refresh_ref_docs(documents)`` can tell changed documents from unchanged ones.
- :func:`load_questions` reads ``data/questions.json``: questions with the file that answers them.
- :func:`synthetic_corpus` makes large, deterministic corpora (tens of thousands of documents) for
  benchmarks, with no files involved.

The data folder is found at call time: ``$PERSISTLAB_DATA_DIR`` if set, otherwise the first ``data`` folder
containing ``preserving/`` found walking up from this file or from the current directory.

Learners reading their own folders would use ``SimpleDirectoryReader(path, filename_as_id=True)`` to get
stable ids; this module reads the files directly so that loading is fast and identical on every machine.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from llama_index.core import Document

from persistlab.config import DATA_DIR_ENV, find_upwards

__all__ = [
    "CORPUS_DIRNAME",
    "ENV_VAR",
    "QUESTIONS_FILENAME",
    "VOCABULARY",
    "Question",
    "data_dir",
    "iter_synthetic_texts",
    "load_documents",
    "load_questions",
    "synthetic_corpus",
]

ENV_VAR = DATA_DIR_ENV
CORPUS_DIRNAME = "preserving"
QUESTIONS_FILENAME = "questions.json"


def _search_starts() -> list[Path]:
    return [Path(__file__).resolve().parent, Path.cwd().resolve()]


def _find_data_dir() -> Path | None:
    """The first ``<ancestor>/data`` holding ``preserving/``, or None."""
    for start in _search_starts():
        found = find_upwards(f"data/{CORPUS_DIRNAME}", start)
        if found is not None:
            return found / "data"
    return None


def data_dir() -> Path:
    """Return the data folder (the one holding ``preserving/`` and ``questions.json``).

    ``$PERSISTLAB_DATA_DIR`` wins if set. Raises FileNotFoundError naming what was tried.
    """
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override).expanduser().resolve()
        if not (path / CORPUS_DIRNAME).is_dir():
            raise FileNotFoundError(
                f"{ENV_VAR}={override!r} but {path / CORPUS_DIRNAME} is not a folder. "
                f"Point {ENV_VAR} at the repository's data/ folder (the one containing {CORPUS_DIRNAME}/), "
                f"or unset it."
            )
        return path
    found = _find_data_dir()
    if found is None:
        tried = " and ".join(str(p) for p in _search_starts())
        raise FileNotFoundError(
            f"Could not find data/{CORPUS_DIRNAME}/ above {tried}. "
            f"Run from inside the course repository, install the course from its clone with pip install -e "
            f"(see the README), or set {ENV_VAR} to its data/ folder."
        )
    return found


@dataclass(frozen=True)
class Question:
    """A question about the corpus, the file that answers it, and a phrase from that file."""

    question: str
    answer_doc: str
    answer: str


def load_documents(directory: str | Path | None = None) -> list[Document]:
    """Load every ``*.md`` file in ``directory`` (default ``data/preserving``) as a Document.

    One Document per file, sorted by file name; ``id_`` and ``metadata["file_name"]`` are the file name
    and ``text`` is the file's content (line endings normalised to ``\\n``).
    """
    folder = Path(directory) if directory is not None else data_dir() / CORPUS_DIRNAME
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder. Pass the folder holding the .md files, or set {ENV_VAR}.")
    paths = sorted(folder.glob("*.md"))
    if not paths:
        raise FileNotFoundError(f"No .md files in {folder}.")
    return [
        Document(id_=path.name, text=path.read_text(encoding="utf-8"), metadata={"file_name": path.name})
        for path in paths
    ]


def load_questions(path: str | Path | None = None) -> list[Question]:
    """Load the questions (default ``data/questions.json``), checking that each has the three fields."""
    file = Path(path) if path is not None else data_dir() / QUESTIONS_FILENAME
    if not file.is_file():
        raise FileNotFoundError(f"{file} does not exist. Pass the questions file, or set {ENV_VAR}.")
    try:
        records = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{file} is not valid JSON: {err}") from err
    if not isinstance(records, list):
        raise ValueError(f"{file} must hold a JSON list of questions, found {type(records).__name__}.")
    questions = []
    fields = ("question", "answer_doc", "answer")
    for i, record in enumerate(records):
        if not isinstance(record, dict) or set(record) != set(fields):
            raise ValueError(f"{file}, item {i}: expected an object with exactly the keys {fields}, got {record!r}.")
        if not all(isinstance(record[f], str) and record[f].strip() for f in fields):
            raise ValueError(f"{file}, item {i}: every field must be a non-empty string, got {record!r}.")
        questions.append(Question(**record))
    return questions


# Fixed word list for synthetic corpora. Changing it changes every synthetic text, so treat it as frozen.
VOCABULARY: tuple[str, ...] = tuple(
    """
    salt brine cure curing pickle pickling vinegar acid acetic lactic ferment fermented fermentation
    crock jar jars lid lids seal sealed vacuum canner canning can cans tin bottle bottles cork wax
    smoke smoked smoking smokehouse firebox ember embers oak beech hickory alder apple cherry sawdust
    dry dried drying dehydrate dehydrated sun wind rack racks screen shade air draught breeze
    ice icehouse icebox iceman cellar cellars pantry larder shelf shelves cool cold chill chilled frost
    frozen freeze freezer thaw thawed refrigerator compressor condenser coil ammonia vapor sublimation
    sugar syrup honey jam jelly marmalade pectin quince currant plum prune raisin apricot fig date
    peel zest citrus lemon orange citron cabbage kraut kimchi radish cucumber gherkin dill
    onion garlic ginger chili pepper peppercorn coriander mustard clove cinnamon bay thyme juniper
    caraway fennel nutmeg allspice mace saltpetre nitrite nitrate spice spices herb herbs
    ham bacon pork beef brisket mutton lamb venison bison goose duck chicken sausage salami
    jerky pemmican biltong hardtack biscuit cracker ration rations provisions stores barrel barrels
    cask keg tub vat vats amphora sack bag bags rawhide crate bushel basket cloth muslin string twine
    cod herring mackerel anchovy salmon trout eel sardine ling haddock shark stockfish kipper roe
    milk cream butter cheese curd whey rennet yogurt rind mold mould yeast bacteria microbe microbes
    spore spores enzyme enzymes protein starch fat lard tallow suet oil olive confit rillettes
    potato potatoes carrot carrots beet turnip squash bean beans pea peas corn grain rice barley
    wheat flour oats rye loaf crust koji miso soy shoyu sauce paste garum
    winter autumn harvest spring summer season seasons snow village farm farmhouse kitchen
    cook cooks baker butcher fishmonger sailor sailors soldier soldiers voyage voyages ship ships
    navy army trader traders market merchant caravan wagon sledge canoe brigade expedition camp
    heat heated boil boiled boiling simmer simmered steam steamed bake baked roast roasted
    temperature pressure gauge thermometer altitude humidity moisture water activity osmosis
    acidity alkaline lye ash lime limewater silicate glass stoneware earthenware clay brick stone
    spoil spoiled spoilage rot rancid sour sweet bitter salty savory smoky tangy crisp tender
    slice sliced strip strips shred shredded pound pounded press pressed pack packed layer layered
    wrap wrapped hang hung store stored keep kept last lasting weeks months years daily overnight
    recipe method technique tradition custom household family neighbors festival feast supper
    safe safety toxin botulism scurvy vitamin nourishment hunger famine plenty
    """.split()
)


def iter_synthetic_texts(n: int, seed: int = 0, words_per_doc: int = 60) -> Iterator[str]:
    """Return an iterator over ``n`` pseudo-random texts of exactly ``words_per_doc`` words from :data:`VOCABULARY`.

    Deterministic: the same ``(n, seed, words_per_doc)`` gives the same texts in any process, and the first
    k texts for a given seed do not depend on ``n``. Words are grouped into sentences of 6-15 words.
    Arguments are checked here, not on first ``next()``.
    """
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}.")
    if not isinstance(words_per_doc, int) or words_per_doc < 1:
        raise ValueError(f"words_per_doc must be a positive integer, got {words_per_doc!r}.")
    return _synthetic_texts(n, seed, words_per_doc)


def _synthetic_texts(n: int, seed: int, words_per_doc: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(n):
        words = rng.choices(VOCABULARY, k=words_per_doc)
        sentences = []
        start = 0
        while start < words_per_doc:
            end = min(words_per_doc, start + rng.randint(6, 15))
            sentence = " ".join(words[start:end])
            sentences.append(sentence[0].upper() + sentence[1:] + ".")
            start = end
        yield " ".join(sentences)


def synthetic_corpus(n: int, seed: int = 0, words_per_doc: int = 60) -> list[Document]:
    """Return ``n`` synthetic Documents with ids ``synthetic-00000``, ``synthetic-00001``, ...

    Texts come from :func:`iter_synthetic_texts`; the id depends only on the position, so the same
    document keeps its id whatever ``n`` is. 20,000 documents take well under a second.
    """
    texts = iter_synthetic_texts(n, seed, words_per_doc)
    return [Document(id_=f"synthetic-{i:05d}", text=text) for i, text in enumerate(texts)]
