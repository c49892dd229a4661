"""The errors of the methods layer (kept apart so that the loop and its checkpoints share
them without importing each other)."""

from __future__ import annotations

from pathlib import Path

from unlearnkit.core.errors import UnlearnkitError


class UnlearningError(UnlearnkitError):
    """The unlearning run cannot go on (bad input, a checkpoint that does not fit the run,
    or a diverged run)."""


class DivergedError(UnlearningError):
    """The run diverged (a non-finite loss or gradient, or exploded weights) and stopped.

    step: the optimiser steps the model's state holds (the last finite state).
    checkpoint: the checkpoint folder that holds that state, or None when none was written.
    cause: what diverged, in words ("method 'npo' diverged at step 3: the loss became nan").
    """

    def __init__(
        self, message: str, *, step: int, checkpoint: Path | None, cause: str = ""
    ) -> None:
        super().__init__(message)
        self.step, self.checkpoint, self.cause = step, checkpoint, cause or message

    def discarded(self) -> DivergedError:
        """The same error for a caller that deletes the run's output directory when it fails
        (a cache build folder): its message names no path in it."""
        return DivergedError(
            f"{self.cause}. The run wrote to a temporary folder, discarded with any "
            "checkpoint. Lower lr (or grad_clip).",
            step=self.step,
            checkpoint=None,
            cause=self.cause,
        )


__all__ = ["DivergedError", "UnlearningError"]
