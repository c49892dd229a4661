"""What the evaluation suites read: a TOFU-format and/or a MUSE-format dataset, by role.

:func:`eval_data` accepts the synthetic :class:`~unlearnkit.data.world.World`, loaded
:class:`~unlearnkit.data.loaders.TofuData` / :class:`~unlearnkit.data.loaders.MuseData`,
or a directory (a written world, or a TOFU / MUSE hub-layout download), and names each
split by the role the suites use (``forget``, ``retain``, ``holdout``, ``privleak_forget``...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearnkit.core.errors import DataValidationError, UnlearnkitError
from unlearnkit.data.loaders import MuseData, TofuData, load_muse, load_tofu
from unlearnkit.evaluation.metrics.base import Split

#: TOFU roles -> TofuData attribute
TOFU_ROLES = {
    "forget": "forget",
    "retain": "retain_eval",
    "holdout": "holdout",
    "real_authors": "real_authors",
    "world_facts": "world_facts",
    "neighbours": "neighbours",
}
#: MUSE roles -> MuseData attribute
MUSE_ROLES = {
    "verbmem_forget": "verbmem_forget",
    "knowmem_forget": "knowmem_forget_qa",
    "knowmem_retain": "knowmem_retain_qa",
    "privleak_forget": "privleak_forget",
    "privleak_holdout": "privleak_holdout",
}
_ICL = {"knowmem_forget": "knowmem_forget_qa_icl", "knowmem_retain": "knowmem_retain_qa_icl"}


@dataclass(frozen=True)
class EvalData:
    """The datasets one evaluation reads. source: where they came from (for the report)."""

    source: str
    tofu: TofuData | None = None
    muse: MuseData | None = None

    def split(self, role: str) -> Split | None:
        """The split playing ``role``, or ``None`` when the data has none."""
        if role in TOFU_ROLES and self.tofu is not None:
            records = getattr(self.tofu, TOFU_ROLES[role])
            if records:
                return Split(role, records, source=str(self.tofu.files.get(role, self.source)))
        if role in MUSE_ROLES and self.muse is not None:
            records = getattr(self.muse, MUSE_ROLES[role])
            if records:
                icl = getattr(self.muse, _ICL[role]) if role in _ICL else None
                return Split(role, records, source=self.muse.source, context=icl or ())
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "forget": self.tofu.forget_name if self.tofu is not None else None,
            "tofu": self.tofu.source if self.tofu is not None else None,
            "muse": self.muse.source if self.muse is not None else None,
        }


def eval_data(data: Any, *, forget: str = "forget10") -> EvalData:
    """``data`` (a World, TofuData, MuseData, EvalData or a directory) as :class:`EvalData`.

    forget: the forget request (``forget01``, ``forget05``, ``forget10``, ``forget25``): its
    TOFU splits and, for a World, its MUSE splits (a MUSE directory has one forget set).
    """
    from unlearnkit.data.world import World

    if isinstance(data, EvalData):
        return data
    if isinstance(data, TofuData):
        return EvalData(source=data.source, tofu=data)
    if isinstance(data, MuseData):
        return EvalData(source=data.source, muse=data)
    if isinstance(data, World):
        return _from_world(data, forget)
    if isinstance(data, str | Path):
        return _from_dir(Path(data), forget)
    raise UnlearnkitError(
        f"cannot evaluate on a {type(data).__name__}; give a World, TofuData, MuseData or a "
        "directory holding TOFU- and/or MUSE-format data"
    )


def _from_world(world: Any, forget: str) -> EvalData:
    t = world.tofu
    percent = forget.removeprefix("forget")
    if f"{forget}_perturbed" not in t:
        have = sorted(k.removesuffix("_perturbed") for k in t if k.startswith("forget"))
        raise UnlearnkitError(f"the world has no {forget!r}; choose one of {sorted(set(have))}")
    source = f"world(seed={world.spec.seed})"
    forgotten = set(world.split_people[forget])  # forget25 may take a forget10 neighbour
    tofu = TofuData(
        source=source,
        forget_name=forget,
        forget=t[f"{forget}_perturbed"],
        retain=t[f"retain{100 - int(percent):02d}"],
        retain_eval=t.get("retain_perturbed"),
        holdout=t.get(f"holdout{percent}"),
        world_facts=t.get("world_facts_perturbed") or t.get("world_facts"),
        real_authors=t.get("real_authors_perturbed") or t.get("real_authors"),
        neighbours=[r for r in t.get("neighbours") or [] if r["person_id"] not in forgotten],
        full=t.get("full"),
    )
    m = world.muse_for(forget)

    def get(config: str, split: str):
        return (m.get(config) or {}).get(split)

    muse = MuseData(
        source=source,
        forget=get("raw", "forget"),
        retain=get("raw", "retain"),
        holdout=get("raw", "holdout"),
        verbmem_forget=get("verbmem", "forget"),
        knowmem_forget_qa=get("knowmem", "forget_qa"),
        knowmem_retain_qa=get("knowmem", "retain_qa"),
        privleak_forget=get("privleak", "forget"),
        privleak_retain=get("privleak", "retain"),
        privleak_holdout=get("privleak", "holdout"),
    )
    return EvalData(source=source, tofu=tofu, muse=muse)


def _from_dir(path: Path, forget: str) -> EvalData:
    if not path.exists():
        raise UnlearnkitError(f"data directory {str(path)!r} does not exist")
    errors: list[str] = []
    tofu = muse = None
    try:
        tofu = load_tofu(path, forget=forget)
    except (DataValidationError, UnlearnkitError) as exc:
        errors.append(f"TOFU: {exc}")
    try:
        muse = load_muse(path)
    except (DataValidationError, UnlearnkitError) as exc:
        errors.append(f"MUSE: {exc}")
    if tofu is None and muse is None:
        raise UnlearnkitError(
            f"{str(path)!r} holds neither TOFU- nor MUSE-format data:\n  " + "\n  ".join(errors)
        )
    return EvalData(source=str(path), tofu=tofu, muse=muse)
