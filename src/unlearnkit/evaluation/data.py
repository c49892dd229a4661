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
from unlearnkit.data.loaders import MuseData, TofuData, load_muse, load_tofu, load_wmdp_dir
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


#: MCQ roles (the ``wmdp`` suite) -> key of :attr:`EvalData.mcq`: the synthetic world's
#: hazard / benign sets, and the public WMDP's three configs (``cais/wmdp``)
MCQ_ROLES = {
    "wmdp_hazard": "hazard",
    "wmdp_benign": "benign",
    "wmdp_bio": "wmdp-bio",
    "wmdp_chem": "wmdp-chem",
    "wmdp_cyber": "wmdp-cyber",
}
#: the public WMDP configs, read when a data directory is (or holds) a ``cais/wmdp`` download
WMDP_CONFIGS = ("wmdp-bio", "wmdp-chem", "wmdp-cyber")


@dataclass(frozen=True)
class EvalData:
    """The datasets one evaluation reads. source: where they came from (for the report).

    mcq: four-option question sets in the WMDP schema by name (``hazard``, ``benign``).
    forget_set / retain_set: what unlearning methods train on when it is not TOFU's forget
    and retain QA (corpus requests: ``text`` records and/or QA records).
    """

    source: str
    tofu: TofuData | None = None
    muse: MuseData | None = None
    mcq: dict[str, list[dict[str, Any]]] | None = None
    forget_set: list[dict[str, Any]] | None = None
    retain_set: list[dict[str, Any]] | None = None

    def unlearning_sets(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(forget, retain) records an unlearning method trains on: the explicit sets, else
        TOFU's forget / retain QA, else MUSE's raw forget / retain texts."""
        if self.forget_set is not None:
            return self.forget_set, list(self.retain_set or [])
        if self.tofu is not None:
            return list(self.tofu.forget), list(self.tofu.retain)
        if self.muse is not None and self.muse.forget:
            return list(self.muse.forget), list(self.muse.retain or [])
        raise UnlearnkitError(
            "unlearning needs a forget set: TOFU-format forget / retain QA or MUSE raw "
            "forget / retain texts; the data has neither"
        )

    def split(self, role: str) -> Split | None:
        """The split playing ``role``, or ``None`` when the data has none."""
        if role in MCQ_ROLES and self.mcq is not None:
            records = self.mcq.get(MCQ_ROLES[role])
            if records:
                return Split(role, records, source=f"{self.source}:{MCQ_ROLES[role]}")
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
            "mcq": sorted(self.mcq) if self.mcq else None,
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


def _muse_of(world: Any, forget: str, source: str) -> MuseData:
    m = world.muse_for(forget)

    def get(config: str, split: str):
        return (m.get(config) or {}).get(split)

    return MuseData(
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


def _from_world(world: Any, forget: str) -> EvalData:
    from unlearnkit.data.world.spec import CORPUS_REQUESTS

    source = f"world(seed={world.spec.seed})"
    mcq = {k: d.mcq for k, d in world.domains.items()} or None
    if forget in CORPUS_REQUESTS:
        if forget not in world.requests():
            raise UnlearnkitError(
                f"the world has no {forget!r} to forget; choose one of {world.requests()} (a "
                "book needs world.book_chapters > 0, the domains world.domain_entities > 0)"
            )
        forget_set, retain_set = world.corpus_sets(forget)
        return EvalData(
            source=source,
            muse=_muse_of(world, forget, source),
            mcq=mcq,
            forget_set=forget_set,
            retain_set=retain_set,
        )
    t = world.tofu
    percent = forget.removeprefix("forget")
    if f"{forget}_perturbed" not in t:
        raise UnlearnkitError(f"the world has no {forget!r}; choose one of {world.requests()}")
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
    return EvalData(source=source, tofu=tofu, muse=_muse_of(world, forget, source), mcq=mcq)


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
    mcq = _wmdp_questions(path)
    if tofu is None and muse is None and not mcq:
        raise UnlearnkitError(
            f"{str(path)!r} holds neither TOFU- nor MUSE-format data (nor wmdp/ questions):\n  "
            + "\n  ".join(errors)
        )
    return EvalData(source=str(path), tofu=tofu, muse=muse, mcq=mcq)


def _wmdp_questions(path: Path) -> dict[str, list[dict[str, Any]]] | None:
    """Question sets of ``path/wmdp`` (a written world's, or a ``cais/wmdp`` download put
    there), or of ``path`` itself when it is a ``cais/wmdp`` download."""
    for root in (path / "wmdp", path):
        present = [
            c
            for c in WMDP_CONFIGS
            if (root / c).is_dir()
            or any(root.glob(f"{c}.json*"))
            or (root / f"{c}.parquet").is_file()
        ]
        if present:
            return load_wmdp_dir(root, configs=present)
        if root != path and root.is_dir():
            return load_wmdp_dir(root)
    return None
