"""The simulator's reading of text: the words a text is made of, and the simulated chat model's answer (the
context sentence sharing most words with the query: it can only repeat what retrieval gave it)."""

from __future__ import annotations

import re

_STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in
    into is it its may might more most no not of on or our so such than that the their them then
    there these they this those to was we were what when where which while who why will with would
    you your""".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def text_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


_SENTENCE = re.compile(r"(?<=[.!?])\s+")
NO_CONTEXT_ANSWER = "Empty Response: the prompt held no context to answer from."


def _split_prompt(prompt: str) -> tuple[str, str]:
    """Return (context, query) from a LlamaIndex QA prompt, or ("", prompt) if none is found."""
    blocks = re.split(r"\n-{5,}\n", prompt)
    if len(blocks) >= 3:
        context = "\n".join(blocks[1:-1])
        tail = blocks[-1]
        match = re.search(r"Query:\s*(.*?)\s*(?:\nAnswer:|$)", tail, re.S)
        query = match.group(1) if match else tail
        return context, query
    return "", prompt


def extractive_answer(prompt: str) -> str:
    """The simulated chat model's answer: the context sentence sharing most words with the query."""
    context, query = _split_prompt(prompt)
    if not context.strip():
        return NO_CONTEXT_ANSWER
    wanted = set(text_words(query))
    best, best_score = "", 0.0
    for line in context.splitlines():
        if line.lstrip().startswith("#") or (":" in line and len(line) < 80 and not line.rstrip().endswith(".")):
            continue  # a heading, or metadata such as "file_name: salt.md"
        for sentence in _SENTENCE.split(line.strip()):
            words = set(text_words(sentence))
            if not words:
                continue
            score = len(words & wanted) / (1 + 0.02 * len(words))
            if score > best_score:
                best, best_score = sentence.strip(), score
    return best or NO_CONTEXT_ANSWER
