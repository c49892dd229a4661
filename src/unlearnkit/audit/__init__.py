"""Robustness audit: is the forgotten knowledge gone, or only suppressed?

Each attack pushes an unlearned model a little and re-measures what it knows of the forget
set (:mod:`~unlearnkit.audit.knowledge`): relearning on part of the forget set or on related
data (:mod:`~unlearnkit.audit.relearning`), low-bit weight quantization
(:mod:`~unlearnkit.audit.quantization`), Gaussian weight noise
(:mod:`~unlearnkit.audit.tampering`); the form probes measure it on every other form of the
same facts (:mod:`~unlearnkit.audit.forms`). Results are read against the target (knows
everything) and the oracle (never saw the forget set). Definitions: docs/audit.md.
"""

from unlearnkit.audit.knowledge import Knowledge, forgetting_left, knowledge, recovered_fraction

__all__ = ["Knowledge", "forgetting_left", "knowledge", "recovered_fraction"]
