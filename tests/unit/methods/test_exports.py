"""The method errors a caller catches are exported from ``unlearnkit.methods``."""

import unlearnkit.methods
from unlearnkit.methods import DivergedError, UnlearningError
from unlearnkit.methods.errors import DivergedError as Defined


def test_diverged_error_is_exported_next_to_unlearning_error():
    assert DivergedError is Defined and issubclass(DivergedError, UnlearningError)
    assert {"DivergedError", "UnlearningError"} <= set(unlearnkit.methods.__all__)
