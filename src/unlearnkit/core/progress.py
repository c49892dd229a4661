"""Where this process draws its progress bars.

Worker processes of a parallel run (``unlearnkit run`` with several workers) each draw
their bar on their own terminal line: the runner gives each worker a line with
:func:`set_bar_position`, and every training loop passes :func:`bar_position` to tqdm.
"""

from __future__ import annotations

_position = 0


def set_bar_position(position: int) -> None:
    """Draw this process's progress bars on terminal line ``position`` (0 = the first)."""
    global _position
    _position = int(position)


def bar_position() -> int:
    """The terminal line of this process's progress bars (0 unless a runner set it)."""
    return _position


def bar_kwargs() -> dict[str, object]:
    """tqdm keyword arguments for this process: its line, and whether the bar stays."""
    return {"position": _position, "leave": _position == 0}
