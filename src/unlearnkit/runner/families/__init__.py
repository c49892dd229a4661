"""The model families the runner runs, each one implementation of :class:`Family`.

``FAMILIES`` maps a family's name (``unlearnkit list families``) to its class; the name is
also the ``kind:`` of the family's experiment specs (a spec without ``kind`` is a
language-model run). Adding a family: ``docs/extending.md``.
"""

from unlearnkit.runner.families.base import (
    FAMILIES,
    Family,
    Prepared,
    RowFields,
    Step,
    Subject,
    Unlearned,
    family_names,
    get_family,
)
from unlearnkit.runner.families.classifier import Classifiers
from unlearnkit.runner.families.lm import LanguageModels
from unlearnkit.runner.families.recommender import Recommenders

__all__ = [
    "FAMILIES",
    "Classifiers",
    "Family",
    "LanguageModels",
    "Prepared",
    "Recommenders",
    "RowFields",
    "Step",
    "Subject",
    "Unlearned",
    "family_names",
    "get_family",
]
