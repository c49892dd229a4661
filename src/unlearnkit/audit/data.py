"""What the audit reads: TOFU-style splits by name, and the world's forms when there are any."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unlearnkit.core.errors import UnlearnkitError


def audit_data(data: Any, *, forget: str = "forget10") -> tuple[dict[str, list], dict | None]:
    """``(splits, forms)`` of ``data``: a World, or a directory (a written world, or TOFU data).

    splits maps TOFU split names to records (``forget``, its retain and holdout sets and
    ``neighbours`` where present); forms maps each form to its records (a world's
    ``forms/``), or is None.
    """
    from unlearnkit.data.loaders import load_records
    from unlearnkit.data.world import World
    from unlearnkit.evaluation.data import eval_data

    if isinstance(data, World):
        return dict(data.tofu), dict(data.forms)
    path = Path(data)
    tofu = eval_data(path, forget=forget).tofu
    if tofu is None:
        raise UnlearnkitError(
            f"{str(path)!r} holds no TOFU-format data; the audit needs forget and retain sets"
        )
    percent = int(forget.removeprefix("forget"))
    splits: dict[str, list] = {forget: list(tofu.forget), f"retain{100 - percent:02d}": tofu.retain}
    if tofu.holdout:
        splits[f"holdout{percent:02d}"] = list(tofu.holdout)
    if tofu.neighbours:
        splits["neighbours"] = list(tofu.neighbours)
    forms_dir = path / "forms"
    forms = None
    if forms_dir.is_dir():
        names = sorted(p.stem for p in forms_dir.glob("*.json"))
        forms = {name: load_records(forms_dir / f"{name}.json") for name in names}
    return splits, forms


__all__ = ["audit_data"]
