"""Documents no learner has seen: short texts about stored food lots, one set per seed, and their edits."""

from __future__ import annotations

import random
from dataclasses import dataclass

from llama_index.core import Document
from llama_index.core.node_parser import NodeParser
from llama_index.core.schema import MetadataMode

_CONSONANTS = "bcdfghjkmnpqrstvwxz"
_FOODS = (
    "cabbage",
    "herring",
    "plums",
    "salt cod",
    "lemons",
    "pork belly",
    "cucumbers",
    "beef strips",
    "apricots",
    "mackerel",
    "turnips",
    "salmon",
    "mushrooms",
    "cherries",
    "duck legs",
    "walnuts",
)
_METHODS = (
    "packed in coarse salt",
    "cold-smoked over beech",
    "pickled in cider vinegar",
    "dried in the sun",
    "fermented in brine",
    "cooked down with sugar",
    "buried in wood ash",
    "hung in the cold wind",
)
_VESSELS = ("crock", "barrel", "jar", "cask", "tin", "sack", "basket", "box")
_PLACES = ("cellar", "attic", "ice house", "larder", "pantry", "smokehouse", "shed", "cave")
_NOTES = (
    "a thin white bloom on the surface",
    "a sharper smell than last week",
    "brine level two fingers lower",
    "no change in colour",
    "a few soft pieces near the lid",
    "firm texture and a clean taste",
    "condensation under the cover",
    "the weight had slipped to one side",
)


def _sentences(rng: random.Random, code: str, count: int) -> list[str]:
    food, method = rng.choice(_FOODS), rng.choice(_METHODS)
    vessel, place = rng.choice(_VESSELS), rng.choice(_PLACES)
    fixed = [
        f"Lot {code} holds {rng.randint(3, 90)} kilograms of {food}, {method}.",
        f"The {vessel} for lot {code} stands in the {place}, where it stays at {rng.randint(2, 15)} degrees.",
        f"Lot {code} was sealed in {rng.randint(1890, 2024)} and is checked every {rng.randint(2, 30)} days.",
        f"Records say lot {code} lost {rng.randint(5, 40)} percent of its weight while it cured.",
        f"Whoever opens lot {code} skims the top first and tastes a little before serving.",
    ]
    extra = [
        f"In week {week} the keeper of lot {code} noted {rng.choice(_NOTES)}."
        for week in range(1, max(0, count - 5) + 1)
    ]
    return (fixed + extra)[:count]


def sample_documents(seed: int, n: int = 4, sentences: int = 5) -> list[Document]:
    """``n`` short documents about stored food lots, different for every ``seed`` and deterministic.

    Each is about one lot with a unique code word (its id is ``lot-<code>``); :func:`question_about`
    gives a query that finds it. ``sentences`` (at least 1) sets the length: 5 make one paragraph of
    about 90 tokens; more sentences come in paragraphs of 5, separated by blank lines.
    """
    if n < 1 or sentences < 1:
        raise ValueError(f"n and sentences must be at least 1, got n={n}, sentences={sentences}.")
    rng = random.Random(f"persistlab-grading:{seed}")
    codes: list[str] = []
    while len(codes) < n:
        code = "".join(rng.choice(_CONSONANTS) for _ in range(4)) + str(rng.randint(0, 9))
        if code not in codes:
            codes.append(code)
    documents = []
    for code in codes:
        lines = _sentences(rng, code, sentences)
        paragraphs = [" ".join(lines[i : i + 5]) for i in range(0, len(lines), 5)]
        documents.append(Document(id_=f"lot-{code}", text="\n\n".join(paragraphs)))
    return documents


def chunk_texts(document: Document, splitter: NodeParser) -> list[str]:
    """The texts of the chunks ``splitter`` makes of ``document`` that have something to embed: SentenceSplitter
    makes one chunk of an empty text, which ``from_documents`` skips and the embeddings API refuses (HTTP 400)."""
    nodes = splitter.get_nodes_from_documents([document])
    return [node.get_content() for node in nodes if node.get_content(metadata_mode=MetadataMode.EMBED)]


def count_chunks(documents: list[Document], splitter: NodeParser) -> int:
    """How many chunks ``splitter`` makes of ``documents``: the texts that embedding them costs."""
    return sum(len(chunk_texts(document, splitter)) for document in documents)


def code_of(document: Document) -> str:
    """The code word of a :func:`sample_documents` document (``lot-kvzm4`` -> ``kvzm4``)."""
    return document.id_.removeprefix("lot-")


def question_about(document: Document) -> str:
    """A query that finds this :func:`sample_documents` document first: its first sentence."""
    return document.text.split(". ")[0] + "."


@dataclass(frozen=True)
class Revision:
    """A document after an edit: the new document, the sentence removed and the one put in its place."""

    document: Document
    old_sentence: str
    new_sentence: str


def revise(document: Document, seed: int = 0) -> Revision:
    """Replace the first sentence of a :func:`sample_documents` document with a new fact (same id)."""
    rng = random.Random(f"persistlab-revise:{seed}:{document.id_}")
    old = document.text.split(". ")[0] + "."
    new = (
        f"Lot {code_of(document)} now holds {rng.randint(100, 999)} kilograms of "
        f"{rng.choice(_FOODS)}, moved to the {rng.choice(_PLACES)} in week {rng.randint(40, 52)}."
    )
    if not document.text.startswith(old):
        raise ValueError(f"Document {document.id_} does not start with a sentence ending in '. '.")
    return Revision(Document(id_=document.id_, text=new + document.text[len(old) :]), old, new)
