"""Membership-inference attacks (higher score = more member-like) and their AUC / PrivLeak.

``MIA_ATTACKS`` is the registry; each attack module registers itself on import.
"""

from unlearnkit.evaluation.mia import attacks as _attacks  # noqa: F401  (registers)
from unlearnkit.evaluation.mia.base import MIA_ATTACKS, MIAAttack, MIAConfig, register_attack

__all__ = ["MIA_ATTACKS", "MIAAttack", "MIAConfig", "register_attack"]
