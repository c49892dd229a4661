"""The model families the runner runs, each one implementation of :class:`Family`.

``FAMILIES`` maps a family's name (``unlearnkit list families``) to its class; the name is
also the ``kind:`` of the family's experiment specs (a spec without ``kind`` is a
language-model run). Every module of this package registers its family on import, so a
new family is one module here (plus its adapter, methods and measures in their layers):
``docs/extending.md``.
"""

import importlib
import pkgutil

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

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base" and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = [
    "FAMILIES",
    "Family",
    "Prepared",
    "RowFields",
    "Step",
    "Subject",
    "Unlearned",
    "family_names",
    "get_family",
]
