"""ROUGE-L between a generated answer and a reference, via the ``rouge_score`` package.

ROUGE-L (Lin, 2004) scores the longest common subsequence (LCS) of words: with m reference
and n prediction tokens, recall = LCS/m, precision = LCS/n, F1 = 2PR/(P+R).

Which measure and which stemming the benchmarks use (checked in their released code):

* TOFU (arXiv:2401.06121) reports **recall** with ``use_stemmer=True``
  (``eval_rouge_recall`` in locuslab/tofu ``evaluate_util.py``).
* MUSE (arXiv:2407.06460) reports **F1** (``fmeasure``) for VerbMem and KnowMem; MUSE's own
  code scores with ``use_stemmer=False`` (``EvalLogger`` in ``verbmem/get_rouge.py`` and
  ``knowmem/get_rouge_qa.py``), open-unlearning (``eval_text_similarity`` at d3d7cf9) with
  ``use_stemmer=True`` for every ROUGE, MUSE's included.

Our default is TOFU's (recall, stemmer on); the MUSE metrics pass ``measure="f1"`` and keep
the stemmer, as open-unlearning does (``use_stemmer=False`` gives MUSE's own numbers).
Stemming is the Porter stemmer of ``rouge_score``, which only stems tokens longer than 3
characters.

Tokenisation is ``rouge_score``'s default: lower-case, every run of characters other than
``[a-z0-9]`` is a separator. Non-ASCII letters are therefore dropped (a non-English
answer can score 0). An empty prediction (or reference) scores 0.0.
"""

from __future__ import annotations

from collections.abc import Sequence

from rouge_score import rouge_scorer

__all__ = ["MEASURES", "rouge_l", "rouge_l_batch"]

# our measure name -> attribute of rouge_score's Score tuple
_SCORE_FIELD = {"recall": "recall", "precision": "precision", "f1": "fmeasure"}
MEASURES: tuple[str, ...] = tuple(_SCORE_FIELD)

# building a scorer loads the stemmer; one per stemming choice, reused for every call
_SCORERS: dict[bool, rouge_scorer.RougeScorer] = {}


def _scorer(use_stemmer: bool) -> rouge_scorer.RougeScorer:
    key = bool(use_stemmer)
    if key not in _SCORERS:
        _SCORERS[key] = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=key)
    return _SCORERS[key]


def _field(measure: str) -> str:
    try:
        return _SCORE_FIELD[measure]
    except KeyError:
        raise ValueError(
            f"rouge_l: measure={measure!r} is not supported; use one of {list(MEASURES)}"
        ) from None


def rouge_l(
    prediction: str, reference: str, *, measure: str = "recall", use_stemmer: bool = True
) -> float:
    """ROUGE-L of ``prediction`` against ``reference``, in [0, 1].

    Args:
        prediction: the model's generated text (already cut at EOS / stop strings).
        reference: the ground-truth answer.
        measure: ``"recall"`` (TOFU, default), ``"precision"`` or ``"f1"`` (MUSE).
        use_stemmer: Porter-stem tokens before matching (TOFU: True, MUSE: False).

    Raises:
        ValueError: if ``measure`` is not one of :data:`MEASURES`.
    """
    field = _field(measure)
    score = _scorer(use_stemmer).score(reference, prediction)["rougeL"]  # (target, prediction)
    return float(getattr(score, field))


def rouge_l_batch(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    measure: str = "recall",
    use_stemmer: bool = True,
) -> list[float]:
    """:func:`rouge_l` for each aligned ``(prediction, reference)`` pair.

    Raises:
        ValueError: if the two sequences differ in length, or ``measure`` is unknown.
    """
    if len(predictions) != len(references):
        raise ValueError(
            f"rouge_l_batch: got {len(predictions)} predictions but {len(references)} "
            "references; give one reference per prediction"
        )
    _field(measure)  # validate once, even for empty input
    return [
        rouge_l(p, r, measure=measure, use_stemmer=use_stemmer)
        for p, r in zip(predictions, references, strict=True)
    ]
