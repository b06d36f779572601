"""Tests for persistlab.learning.corpus: the hand-written corpus, its questions, and the synthetic generator."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from persistlab.learning import corpus

SRC_DIR = Path(corpus.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def documents():
    return corpus.load_documents()


@pytest.fixture(scope="module")
def questions():
    return corpus.load_questions()


# --- the hand-written corpus -------------------------------------------------------------------------------


def test_corpus_has_at_least_40_documents(documents):
    assert len(documents) >= 40


def test_each_document_is_a_titled_short_text(documents):
    for doc in documents:
        first_line, _, body = doc.text.partition("\n")
        assert first_line.startswith("# ") and len(first_line) > 3, doc.id_
        assert 80 <= len(body.split()) <= 160, (doc.id_, len(body.split()))


def test_ids_are_file_names_unique_sorted_and_stable(documents):
    ids = [doc.id_ for doc in documents]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    files = sorted(p.name for p in (corpus.data_dir() / corpus.CORPUS_DIRNAME).glob("*.md"))
    assert ids == files
    assert all(doc.metadata == {"file_name": doc.id_} for doc in documents)
    again = corpus.load_documents()
    assert [(d.id_, d.hash) for d in again] == [(d.id_, d.hash) for d in documents]


# --- questions ---------------------------------------------------------------------------------------------


def test_there_are_at_least_12_questions(questions):
    assert len(questions) >= 12
    assert all(isinstance(q, corpus.Question) for q in questions)


def test_every_answer_is_in_its_document_and_not_in_the_question(documents, questions):
    texts = {doc.id_: doc.text for doc in documents}
    for q in questions:
        assert q.answer_doc in texts, f"{q.answer_doc} is not a corpus file"
        assert q.answer in texts[q.answer_doc], f"{q.answer!r} not found in {q.answer_doc}"
        assert q.answer.lower() not in q.question.lower(), q.question


def test_questions_are_unique(questions):
    assert len({q.question for q in questions}) == len(questions)


def test_malformed_questions_file_names_file_and_item(tmp_path):
    bad = tmp_path / "questions.json"
    bad.write_text(json.dumps([{"question": "Why?", "answer_doc": "x.md"}]), encoding="utf-8")
    with pytest.raises(ValueError, match=r"questions\.json, item 0"):
        corpus.load_questions(bad)


# --- finding the data folder -------------------------------------------------------------------------------


def test_env_var_overrides_data_dir(tmp_path, monkeypatch, documents):
    (tmp_path / "preserving").mkdir()
    for name in ("jerky.md", "kimchi.md"):
        shutil.copy(corpus.data_dir() / "preserving" / name, tmp_path / "preserving" / name)
    monkeypatch.setenv(corpus.ENV_VAR, str(tmp_path))
    assert corpus.data_dir() == tmp_path.resolve()
    assert [d.id_ for d in corpus.load_documents()] == ["jerky.md", "kimchi.md"]


def test_bad_env_var_gives_error_naming_path_and_variable(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv(corpus.ENV_VAR, str(missing))
    with pytest.raises(FileNotFoundError) as err:
        corpus.load_documents()
    assert corpus.ENV_VAR in str(err.value) and "nowhere" in str(err.value)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No .md files"):
        corpus.load_documents(tmp_path)


# --- synthetic corpora -------------------------------------------------------------------------------------


def _digest(texts) -> str:
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()


def test_vocabulary_is_a_few_hundred_distinct_words():
    assert 200 <= len(set(corpus.VOCABULARY)) == len(corpus.VOCABULARY)
    assert all(word.isalpha() and word.islower() for word in corpus.VOCABULARY)


def test_synthetic_is_deterministic_within_a_process():
    first = corpus.synthetic_corpus(300, seed=7)
    second = corpus.synthetic_corpus(300, seed=7)
    assert [(d.id_, d.text) for d in first] == [(d.id_, d.text) for d in second]
    assert [d.text for d in first] == list(corpus.iter_synthetic_texts(300, seed=7))


def test_synthetic_is_deterministic_across_processes():
    code = (
        "import hashlib; from persistlab.learning.corpus import iter_synthetic_texts; "
        "print(hashlib.sha256('\\n'.join(iter_synthetic_texts(500, 3, 40)).encode()).hexdigest())"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC_DIR), os.environ.get("PYTHONPATH")]))}
    env.pop("PYTHONHASHSEED", None)  # a fresh hash seed must not matter
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _digest(corpus.iter_synthetic_texts(500, 3, 40))


@pytest.mark.parametrize("n", [0, 1, 250])
def test_synthetic_respects_n_and_numbers_ids(n):
    docs = corpus.synthetic_corpus(n)
    assert len(docs) == n
    assert [d.id_ for d in docs] == [f"synthetic-{i:05d}" for i in range(n)]


@pytest.mark.parametrize("words", [1, 7, 60, 200])
def test_synthetic_word_count_and_vocabulary(words):
    vocabulary = set(corpus.VOCABULARY)
    for text in corpus.iter_synthetic_texts(50, seed=1, words_per_doc=words):
        tokens = text.split()
        assert len(tokens) == words
        assert {t.rstrip(".").lower() for t in tokens} <= vocabulary


def test_different_seeds_give_different_texts():
    assert list(corpus.iter_synthetic_texts(20, seed=0)) != list(corpus.iter_synthetic_texts(20, seed=1))


def test_a_larger_corpus_extends_a_smaller_one():
    assert list(corpus.iter_synthetic_texts(100, seed=5)) == list(corpus.iter_synthetic_texts(300, seed=5))[:100]


def test_synthetic_texts_are_distinct():
    texts = list(corpus.iter_synthetic_texts(2000, seed=0))
    assert len(set(texts)) == len(texts)


@pytest.mark.parametrize("kwargs", [{"n": -1}, {"n": 2.5}, {"n": 3, "words_per_doc": 0}])
def test_bad_synthetic_arguments_fail_immediately(kwargs):
    with pytest.raises(ValueError):
        corpus.iter_synthetic_texts(**kwargs)
