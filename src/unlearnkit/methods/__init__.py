"""Unlearning methods, one module per method, named after its paper: for causal LMs
gradient-based (``gradient/``: losses on the shared loop), editing (``editing/``: a change
of located weights) and inference-time guards (``inference/``: a wrapper around the
model); for the other families ``classifier/`` and ``recommender/``.

``METHODS`` is the one registry (each method registers itself and declares its family:
:func:`~unlearnkit.methods.api.methods_of`); ``unlearn`` is the Python entry point of the
LM methods (``unlearn_classifier`` and ``unlearn_recommender`` are the other families')::

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
