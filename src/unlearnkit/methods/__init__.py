"""Unlearning methods: gradient-based now (editing and inference-time guards later).

``METHODS`` is the registry (one module per method registers itself, named after its paper);
``unlearn`` is the Python entry point::

    from unlearnkit.methods import unlearn
    model, record = unlearn("path/to/target", forget, retain, method="npo", lr=1e-3)
"""

from unlearnkit.methods.api import unlearn
from unlearnkit.methods.base import METHODS, Method, RetainConfig, UnlearnConfig, load_refusals
from unlearnkit.methods.errors import DivergedError, UnlearningError
from unlearnkit.methods.loop import UnlearnRecord, run_unlearning

__all__ = [
    "METHODS",
    "DivergedError",
    "Method",
    "RetainConfig",
    "UnlearnConfig",
    "UnlearnRecord",
    "UnlearningError",
    "load_refusals",
    "run_unlearning",
    "unlearn",
]
