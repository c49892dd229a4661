"""The concepts a forget set is about, found in its questions (ROCR's keys, ICU's targets).

In TOFU-style data every question of a forgotten person names them: the longest run of
words that recurs across the forget questions and appears in no retain question is that
name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"[^\s?!.,:;]+")


def _words(text: str) -> list[str]:
    return [w.removesuffix("'s").removesuffix("’s") for w in _WORD.findall(text)]


def find_subjects(questions: Sequence[str], others: Sequence[str]) -> list[str | None]:
    """For each question, its concept: the longest run of its words that appears in another
    question of ``questions`` and in none of ``others``; failing that, the longest run of
    words none of which appears in ``others``; None when there is neither."""
    spaced = [" " + " ".join(_words(q)) + " " for q in questions]
    other = [" " + " ".join(_words(q)) + " " for q in others]
    other_words = {w for q in others for w in _words(q)}

    def recurring(i: int) -> str | None:
        words = _words(questions[i])
        for n in range(len(words), 0, -1):
            for start in range(len(words) - n + 1):
                gram = " " + " ".join(words[start : start + n]) + " "
                if not any(gram in s for s in other) and any(
                    gram in s for j, s in enumerate(spaced) if j != i
                ):
                    return gram.strip()
        return None

    def unseen(i: int) -> str | None:
        best: list[str] = []
        run: list[str] = []
        for w in [*_words(questions[i]), ""]:
            if w and w not in other_words:
                run.append(w)
                continue
            if len(run) > len(best):
                best = run
            run = []
        return " ".join(best) or None

    def trim(run: str | None) -> str | None:
        # the concept, not the phrase around it: drop edge words the retain questions use
        words = run.split(" ") if run else []
        while words and words[0] in other_words:
            words.pop(0)
        while words and words[-1] in other_words:
            words.pop()
        return " ".join(words) or run

    return [trim(recurring(i)) or unseen(i) for i in range(len(questions))]


def forget_concepts(questions: Sequence[str], others: Sequence[str]) -> list[str]:
    """The distinct concepts of ``questions`` (see :func:`find_subjects`), in first-seen order."""
    return list(dict.fromkeys(s for s in find_subjects(questions, others) if s))


__all__ = ["find_subjects", "forget_concepts"]
