"""Load TOFU and MUSE data from a local directory or a hub id, validated against the schemas.

A *source* is one of:

- a local directory in the **hub layout**: a ``README.md`` whose YAML front matter has
  ``configs:`` mapping config names to data files (what ``datasets.load_dataset(DIR, name=...)``
  reads; the synthetic world writes this too);
- a local directory of **plain files**: ``<config>.json|.jsonl|.parquet`` (split ``train``),
  ``<config>/<split>.json|.jsonl|.parquet`` (e.g. MUSE's ``raw/forget.json``; hub shard
  names like ``raw/forget-00000-of-00001.parquet`` count as split ``forget``) and the hub's
  parquet conversion ``<config>/<split>/0000.parquet`` (branch ``refs/convert/parquet``,
  e.g. ``wmdp-bio/test/0000.parquet``);
- a hub id such as ``"locuslab/TOFU"`` or ``"muse-bench/MUSE-News"`` (needs network; read
  with ``datasets.load_dataset(source, name=config, split=split)``).

A synthetic-world directory (``unlearnkit world --out DIR``) can be passed as is: its
``tofu/`` and ``muse/`` sub-directories are found. Local files (JSON array, JSON Lines or
parquet, told apart by content) are read from their bytes each time, with ``json`` and
``pyarrow``, not through the ``datasets`` cache (which keys on path and modification time,
and so returned old records for a file edited with its mtime kept); a problem is reported
with its file and line or record. README ``data_files`` must stay inside the dataset folder.

Every split is checked against its schema (:mod:`unlearnkit.data.schemas`) and for repeated
records (an error in a TOFU forget set, a warning elsewhere), and splits that must be
disjoint are checked for overlap, ignoring case and whitespace (forget vs retain vs
holdout)::

    tofu = load_tofu("world/tofu", forget="forget05")
    muse = load_muse("muse-bench/MUSE-News")
    rows = load_records("world/tofu/forget10.json")
    wmdp = load_wmdp_dir("downloads/wmdp")  # {"wmdp-bio": [...], "wmdp-chem": [...], ...}
"""

from __future__ import annotations

import glob
import json
import posixpath
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from unlearnkit.core.errors import (
    ConfigError,
    DataValidationError,
    DataWarning,
    did_you_mean,
    is_hub_id,
    short_repr,
    utf8_problem,
)
from unlearnkit.data.schemas import Schema, get_schema, validate_records

Record = dict[str, Any]

#: File suffixes recognised as data in the plain-files layout.
DATA_SUFFIXES: tuple[str, ...] = (".json", ".jsonl", ".parquet")

#: The forget sets of the public TOFU release.
TOFU_FORGET_SPLITS: tuple[str, ...] = ("forget01", "forget05", "forget10")

#: The configs of the public MUSE releases that :func:`load_muse` reads.
MUSE_CONFIGS: tuple[str, ...] = ("raw", "verbmem", "knowmem", "privleak")

_PARQUET_MAGIC = b"PAR1"
_FORGET_NAME = re.compile(r"^forget(\d\d)$")
# A hub shard: <split>-00000-of-00001, older push_to_hub versions add -<fingerprint>
_SHARD_NAME = re.compile(r"^(?P<split>.+?)-\d{5}-of-\d{5}(?:-[0-9a-f]+)?$")
_ZERO_BASED = "record numbers count from 0"


# ----------------------------------------------------------------------------------------
# Result types
@dataclass(frozen=True)
class TofuData:
    """The splits of one TOFU-format dataset for one forget request.

    source: the directory or hub id read. forget_name: the requested forget set
    (``forget01``, ``forget05``, ``forget10``). forget: its records, the ``_perturbed``
    version (with paraphrased and perturbed answers) when the source has it. retain: the
    matching retain set (forget01 -> retain99, forget05 -> retain95, forget10 -> retain90).
    retain_eval: ``retain_perturbed``. holdout: the matching ``holdoutNN`` (never-trained
    people). world_facts / real_authors: the ``_perturbed`` version when present, else the
    plain one. neighbours: retain people linked to forgotten ones (synthetic world). full:
    the whole fine-tuning set. Optional splits are ``None`` when the source lacks them.
    configs: role -> config name read ("forget" -> "forget10_perturbed", ...). files:
    role -> the file(s) or hub reference each role came from.
    """

    source: str
    forget_name: str
    forget: list[Record]
    retain: list[Record]
    retain_eval: list[Record] | None = None
    holdout: list[Record] | None = None
    world_facts: list[Record] | None = None
    real_authors: list[Record] | None = None
    neighbours: list[Record] | None = None
    full: list[Record] | None = None
    configs: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def forget_is_perturbed(self) -> bool:
        """Whether ``forget`` holds the ``_perturbed`` records (paraphrased/perturbed answers)."""
        return self.configs.get("forget", "").endswith("_perturbed")


@dataclass(frozen=True)
class MuseData:
    """The splits of one MUSE-format dataset (MUSE-News, MUSE-Books or the synthetic world).

    source: the directory or hub id read. forget / retain / holdout: ``raw`` texts
    (``{"text"}``); retain is the split named ``retain``, else MUSE's ``retain1`` (the retain
    set unlearning methods may use). retain_eval: MUSE's ``raw/retain2`` (the retain set
    used for evaluation) when present. verbmem_forget: ``{"prompt", "gt"}``.
    knowmem_forget_qa / knowmem_retain_qa (and their ``_icl`` in-context examples):
    ``{"question", "answer"}``. privleak_forget / privleak_retain / privleak_holdout:
    ``{"text"}``. Optional splits are ``None`` when absent. files: role -> file(s) or hub
    reference; configs: role -> ``config/split`` read.
    """

    source: str
    forget: list[Record]
    retain: list[Record]
    holdout: list[Record] | None = None
    retain_eval: list[Record] | None = None
    verbmem_forget: list[Record] | None = None
    knowmem_forget_qa: list[Record] | None = None
    knowmem_retain_qa: list[Record] | None = None
    knowmem_forget_qa_icl: list[Record] | None = None
    knowmem_retain_qa_icl: list[Record] | None = None
    privleak_forget: list[Record] | None = None
    privleak_retain: list[Record] | None = None
    privleak_holdout: list[Record] | None = None
    configs: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------
# Public functions
def load_tofu(
    source: str | Path,
    *,
    forget: str = "forget10",
    revision: str | None = None,
    check_disjoint: bool = True,
) -> TofuData:
    """Read a TOFU-format dataset (local directory or hub id) for one forget request.

    forget: ``forget01``, ``forget05`` or ``forget10`` (any ``forgetNN`` the source holds).
    revision: a hub revision (commit, tag, branch) to pin; only for hub ids.
    check_disjoint: refuse a forget set sharing a record (same question and answer, or
    the same ``person_id``) with the retain sets, and a holdout set sharing one with either.
    Leave on unless you know the overlap is intended.

    Raises :class:`ConfigError` for an invalid ``forget`` name (with a suggestion) and
    :class:`DataValidationError` for a missing required config (listing what is there), a
    file that is not JSON / JSON Lines / parquet, a record that does not fit its schema, or
    overlapping splits.
    """
    percent = _forget_percent(forget)
    retain_name = f"retain{100 - percent:02d}"
    holdout_name = f"holdout{percent:02d}"
    src = _open_source(
        source, revision=revision, subdir="tofu", owner="load_tofu", wanted=_is_tofu_config
    )
    names = set(src.configs())

    perturbed = f"{forget}_perturbed"
    forget_config = perturbed if perturbed in names else forget
    required = ((forget_config, "the forget set"), (retain_name, f"the retain set of {forget}"))
    for config, what in required:
        if config not in names:
            raise DataValidationError(
                f"required config {config!r} ({what}) not found. "
                f"Available configs: {_listing(names)}.{did_you_mean(config, names)}",
                file=src.label,
            )

    splits: dict[str, _Split] = {
        "forget": src.read(
            forget_config, None, "tofu_perturbed" if perturbed in names else "tofu_qa"
        ),
        "retain": src.read(retain_name, None, "tofu_qa"),
    }
    optional: list[tuple[str, tuple[str, ...], str | Callable[[list[Record]], str]]] = [
        ("retain_eval", ("retain_perturbed",), "tofu_perturbed"),
        ("holdout", (holdout_name,), _qa_schema),
        ("world_facts", ("world_facts_perturbed", "world_facts"), _options_schema),
        ("real_authors", ("real_authors_perturbed", "real_authors"), _options_schema),
        ("neighbours", ("neighbours", "neighbors"), _qa_schema),
        ("full", ("full",), "tofu_qa"),
    ]
    for role, candidates, schema in optional:
        config = next((c for c in candidates if c in names), None)
        if config is not None:
            splits[role] = src.read(config, None, schema)

    for role, split in splits.items():
        _check_duplicates(split, role, exact_is_error=role == "forget")

    if check_disjoint:
        keys = (("question", "answer"), ("person_id",))
        pairs = [
            ("forget", "retain"),
            ("forget", "retain_eval"),
            ("forget", "neighbours"),
            ("holdout", "forget"),
            ("holdout", "retain"),
            ("holdout", "retain_eval"),
        ]
        for a, b in pairs:
            if a in splits and b in splits:
                _check_disjoint(splits[a], a, splits[b], b, keys)

    return TofuData(
        source=src.label,
        forget_name=forget,
        **{role: split.records for role, split in splits.items()},
        configs={role: split.config for role, split in splits.items()},
        files={role: split.where for role, split in splits.items()},
    )


def load_muse(
    source: str | Path,
    *,
    revision: str | None = None,
    check_disjoint: bool = True,
) -> MuseData:
    """Read a MUSE-format dataset (local directory or hub id such as ``muse-bench/MUSE-News``).

    Required: config ``raw`` with splits ``forget`` and ``retain`` (or ``retain1``). Read
    when present: ``raw/holdout``, ``raw/retain2``, ``verbmem/forget``,
    ``knowmem/forget_qa``, ``knowmem/retain_qa`` (or ``retain2_qa``) and their ``_icl``
    splits, ``privleak/forget``, ``privleak/retain`` (or ``retain2``), ``privleak/holdout``.
    check_disjoint: refuse identical texts shared by raw forget / retain / holdout, and by
    privleak forget / retain / holdout. Raises like :func:`load_tofu`.

    MUSE's other configs (``train``, and ``scal`` / ``sust`` with splits ``forget_1`` ..
    ``forget_4``) are not read here: ``load_records(DIR, "scal", split="forget_4",
    schema="muse_text")`` reads one of them.
    """
    src = _open_source(
        source,
        revision=revision,
        subdir="muse",
        owner="load_muse",
        wanted=lambda name: name in MUSE_CONFIGS,
    )
    configs = set(src.configs())
    if "raw" not in configs:
        raise DataValidationError(
            f"required config 'raw' (the forget/retain texts) not found. "
            f"Available configs: {_listing(configs)}.{did_you_mean('raw', configs)}",
            file=src.label,
        )
    # role -> (config, split candidates in order of preference, schema, required)
    plan: list[tuple[str, str, tuple[str, ...], str, bool]] = [
        ("forget", "raw", ("forget",), "muse_text", True),
        ("retain", "raw", ("retain", "retain1"), "muse_text", True),
        ("holdout", "raw", ("holdout",), "muse_text", False),
        ("retain_eval", "raw", ("retain2",), "muse_text", False),
        ("verbmem_forget", "verbmem", ("forget",), "muse_verbmem", False),
        ("knowmem_forget_qa", "knowmem", ("forget_qa",), "muse_knowmem", False),
        ("knowmem_retain_qa", "knowmem", ("retain_qa", "retain2_qa"), "muse_knowmem", False),
        ("knowmem_forget_qa_icl", "knowmem", ("forget_qa_icl",), "muse_knowmem", False),
        (
            "knowmem_retain_qa_icl",
            "knowmem",
            ("retain_qa_icl", "retain2_qa_icl"),
            "muse_knowmem",
            False,
        ),
        ("privleak_forget", "privleak", ("forget",), "muse_text", False),
        ("privleak_retain", "privleak", ("retain", "retain2"), "muse_text", False),
        ("privleak_holdout", "privleak", ("holdout",), "muse_text", False),
    ]
    available: dict[str, list[str]] = {c: src.splits(c) for c in MUSE_CONFIGS if c in configs}
    splits: dict[str, _Split] = {}
    for role, config, candidates, schema, required in plan:
        have = available.get(config, [])
        split = next((s for s in candidates if s in have), None)
        if split is None:
            if required:
                raise DataValidationError(
                    f"required split {config}/{candidates[0]} not found "
                    f"(accepted names: {', '.join(candidates)}). Splits of {config!r}: "
                    f"{_listing(have)}.{did_you_mean(candidates[0], have)}",
                    file=src.label,
                )
            continue
        splits[role] = src.read(config, split, schema)

    for role, split in splits.items():
        _check_duplicates(split, role)

    if check_disjoint:
        keys = (("text",), ("person_id",))
        pairs = [
            ("forget", "retain"),
            ("forget", "retain_eval"),
            ("holdout", "forget"),
            ("holdout", "retain"),
            ("holdout", "retain_eval"),
            ("privleak_forget", "privleak_retain"),
            ("privleak_holdout", "privleak_forget"),
            ("privleak_holdout", "privleak_retain"),
        ]
        for a, b in pairs:
            if a in splits and b in splits:
                _check_disjoint(splits[a], a, splits[b], b, keys)

    return MuseData(
        source=src.label,
        **{role: split.records for role, split in splits.items()},
        configs={role: f"{split.config}/{split.split}" for role, split in splits.items()},
        files={role: split.where for role, split in splits.items()},
    )


def load_records(
    path_or_dir: str | Path,
    config: str | None = None,
    *,
    split: str | None = None,
    schema: Schema | str | None = None,
) -> list[Record]:
    """Records of one data file, or of one config (and split) of a local dataset directory.

    path_or_dir: a JSON array, JSON Lines or parquet file (told apart by content), or a
    directory in the hub or plain-files layout (then ``config`` is required). split: the
    split of ``config`` (default: ``train``, or the config's only split). schema: validate
    the records against this schema (name or :class:`Schema`) before returning them.

    Raises :class:`DataValidationError` naming the file (and the line of a JSON Lines file,
    or the record) for anything that cannot be read, for an empty file, and for records that
    do not fit ``schema``.
    """
    path = Path(path_or_dir)
    if path.is_file():
        if config is not None or split is not None:
            raise ConfigError(
                "load_records",
                "config" if config is not None else "split",
                config if config is not None else split,
                f"only applies to a dataset directory, but {path} is a single file",
            )
        records = _read_file(path)
        if schema is not None:
            validate_records(records, schema, file=path)
        return records
    if not path.is_dir():
        raise DataValidationError("no such file or directory", file=str(path))
    src = _LocalSource(path)
    if config is None:
        raise ConfigError(
            "load_records",
            "config",
            None,
            f"{path} is a dataset directory; name one of its configs: {_listing(src.configs())}",
        )
    return src.read(config, split, schema).records


def load_mcq(path: str | Path) -> list[Record]:
    """Four-option (or n-option) questions in the WMDP schema (``question``, ``choices``,
    ``answer`` = 0-based index of the right choice) from a JSON / JSON Lines / parquet file.

    Raises :class:`DataValidationError` naming the file and the record for a missing field,
    an empty choice list, fewer than two choices, or an answer index outside the choices.
    """
    where = Path(path)
    records = load_records(where, schema="wmdp_mcq")
    _check_mcq(records, str(where))
    return records


def load_wmdp_dir(
    path: str | Path, *, split: str | None = None, configs: Sequence[str] | None = None
) -> dict[str, list[Record]]:
    """Every question set of a WMDP- or MMLU-style directory, by config name.

    Reads the layouts the questions are published in: a hub download with its README
    ``configs:`` (``cais/wmdp``: ``wmdp-bio/test-00000-of-00001.parquet``; ``cais/mmlu``:
    ``<subject>/test-...parquet``), the hub's parquet conversion
    (``wmdp-bio/test/0000.parquet``), or plain ``<name>.json|.jsonl|.parquet`` files (the
    synthetic world's ``wmdp/hazard.json`` and ``benign.json``, what the ``wmdp`` suite
    reads). Each set is checked like :func:`load_mcq`.

    split: the split to read; configs without it (such as MMLU's ``auxiliary_train`` for
    ``test``) are left out. By default ``test`` where any config has one, else each
    config's ``train`` or only split. configs: read only these (each must exist and have the
    split). Corpora (configs named ``*_corpus`` / ``*-corpus``: the texts behind the
    questions) are never question sets and are skipped.

    Raises :class:`DataValidationError` for a directory with no question set, a named config
    or split that is not there, and any record :func:`load_mcq` would refuse.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataValidationError(
            "no such directory (expected a folder of question sets)", file=str(root)
        )
    src = _LocalSource(root)
    names = [c for c in src.configs() if not c.endswith(("_corpus", "-corpus"))]
    if configs is not None:
        missing = [c for c in configs if c not in src.configs()]
        if missing:
            raise DataValidationError(
                f"no config {missing[0]!r}.{did_you_mean(missing[0], names)} "
                f"Question sets here: {_listing(names)}.",
                file=src.label,
            )
        names = list(configs)
    if split is None and any("test" in src.splits(c) for c in names):
        split = "test"
    if split is not None and configs is None:
        having = [c for c in names if split in src.splits(c)]
        if names and not having:
            found = sorted({s for c in names for s in src.splits(c)})
            raise DataValidationError(
                f"no question set has a split {split!r}.{did_you_mean(split, found)} "
                f"Splits here: {_listing(found)}.",
                file=src.label,
            )
        names = having
    out: dict[str, list[Record]] = {}
    for name in names:
        part = src.read(name, split, "wmdp_mcq")
        offset = 0
        for file, count in part.parts:
            _check_mcq(part.records[offset : offset + count], file)
            offset += count
        out[name] = part.records
    if not out:
        raise DataValidationError(
            "no question files here: expected <name>.json / .jsonl / .parquet files, or "
            "<config>/<split> folders or shards (WMDP / MMLU layouts)",
            file=str(root),
        )
    return out


def _check_mcq(records: Sequence[Record], where: str) -> None:
    """At least two choices, and an answer that indexes one of them (record by record)."""
    for i, r in enumerate(records):
        n = len(r["choices"])
        if n < 2:
            raise DataValidationError(
                f"a question needs at least two choices, this one has {n}",
                file=where,
                record=i,
                field="choices",
            )
        if not 0 <= r["answer"] < n:
            raise DataValidationError(
                f"answer {r['answer']} is not the index of one of its {n} choices (0 to {n - 1})",
                file=where,
                record=i,
                field="answer",
            )


# ----------------------------------------------------------------------------------------
# Sources: where configs and splits come from
@dataclass(frozen=True)
class _Split:
    """The records of one split and where they came from (for messages)."""

    config: str
    split: str
    records: list[Record]
    parts: tuple[tuple[str, int], ...]  # (file or hub reference, number of records), in order

    @property
    def where(self) -> str:
        return ", ".join(name for name, _ in self.parts)

    def locate(self, index: int) -> tuple[str, int]:
        """(file, index inside that file) of record ``index`` of the whole split."""
        for name, count in self.parts:
            if index < count:
                return name, index
            index -= count
        raise IndexError(index)


SchemaChoice = Schema | str | Callable[[list[Record]], str] | None


class _LocalSource:
    """A local directory: hub layout (README ``configs:``) or plain files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = str(root)
        self.readme = root / "README.md"
        layout = _readme_configs(self.readme) if self.readme.is_file() else None
        self.from_readme = layout is not None
        self.layout: dict[str, dict[str, list[str]]] = (
            layout if layout is not None else _plain_configs(root)
        )

    def configs(self) -> list[str]:
        return sorted(self.layout)

    def splits(self, config: str) -> list[str]:
        return list(self.layout.get(config, {}))

    def read(self, config: str, split: str | None, schema: SchemaChoice) -> _Split:
        if config not in self.layout:
            raise DataValidationError(
                f"no config {config!r}.{did_you_mean(config, self.layout)} "
                f"Available configs: {_listing(self.layout)}.",
                file=self.label,
            )
        split = _pick_split(config, split, list(self.layout[config]), self.label)
        if split.startswith("partial-"):
            warnings.warn(
                f"{self.label}: config {config!r} split {split!r} is a partial parquet "
                "conversion (the hub converts only the first part of a large split): its "
                "records are not the whole split",
                UserWarning,
                stacklevel=3,
            )
        parts: list[tuple[str, int]] = []
        records: list[Record] = []
        for path in self._files(config, split):
            chunk = _read_file(path)
            _validate(chunk, schema, str(path))
            parts.append((str(path), len(chunk)))
            records.extend(chunk)
        return _Split(config, split, records, tuple(parts))

    def _files(self, config: str, split: str) -> list[Path]:
        files: list[Path] = []
        for pattern in self.layout[config][split]:
            if glob.has_magic(pattern):
                matched = sorted(
                    p for p in self.root.glob(pattern) if p.is_file() and not p.name.startswith(".")
                )
            else:
                matched = [self.root / pattern] if (self.root / pattern).is_file() else []
            if not matched:
                raise DataValidationError(
                    f"config {config!r} split {split!r} lists {pattern!r}, but no such file "
                    f"exists under {self.root}",
                    file=str(self.readme) if self.from_readme else self.label,
                )
            files.extend(matched)
        return files


class _HubSource:
    """A dataset on the Hugging Face hub, read with ``datasets`` (needs network)."""

    def __init__(self, repo_id: str, revision: str | None) -> None:
        self.repo_id = repo_id
        self.revision = revision
        self.label = repo_id if revision is None else f"{repo_id}@{revision}"
        self._configs: list[str] | None = None

    def configs(self) -> list[str]:
        if self._configs is None:
            self._configs = list(
                datasets.get_dataset_config_names(self.repo_id, revision=self.revision)
            )
        return self._configs

    def splits(self, config: str) -> list[str]:
        return list(datasets.get_dataset_split_names(self.repo_id, config, revision=self.revision))

    def read(self, config: str, split: str | None, schema: SchemaChoice) -> _Split:
        split = split or "train"
        dataset = datasets.load_dataset(
            self.repo_id, name=config, split=split, revision=self.revision
        )
        records = dataset.to_list()
        where = f"{self.label} (config {config!r}, split {split!r})"
        _validate(records, schema, where)
        return _Split(config, split, records, ((where, len(records)),))


def _open_source(
    source: str | Path,
    *,
    revision: str | None,
    subdir: str,
    owner: str,
    wanted: Callable[[str], bool],
) -> _LocalSource | _HubSource:
    """A local source when ``source`` exists here, else a hub source for an ``owner/name`` id.

    A directory holding none of the ``wanted`` configs but a ``subdir`` (a synthetic-world
    root with ``tofu/`` and ``muse/``) resolves to that sub-directory.
    """
    path = Path(source)
    if path.exists():
        if revision is not None:
            raise ConfigError(
                owner, "revision", revision, f"only applies to hub ids; {path} is local"
            )
        if not path.is_dir():
            raise DataValidationError(
                "expected a dataset directory (use load_records to read a single file)",
                file=str(path),
            )
        local = _LocalSource(path)
        if not any(wanted(c) for c in local.configs()) and (path / subdir).is_dir():
            local = _LocalSource(path / subdir)
        return local
    if isinstance(source, str) and is_hub_id(source):
        return _HubSource(source, revision)
    raise DataValidationError(
        "no such directory, and not a hub id of the form 'owner/name' (e.g. 'locuslab/TOFU')",
        file=str(source),
    )


def _pick_split(config: str, split: str | None, have: list[str], label: str) -> str:
    if split is None:
        if "train" in have:
            return "train"
        if len(have) == 1:
            return have[0]
        raise DataValidationError(
            f"config {config!r} has several splits ({_listing(have)}); name the one to read",
            file=label,
        )
    if split not in have:
        raise DataValidationError(
            f"config {config!r} has no split {split!r}.{did_you_mean(split, have)} "
            f"Splits: {_listing(have)}.",
            file=label,
        )
    return split


# ----------------------------------------------------------------------------------------
# Layout discovery
def _readme_configs(readme: Path) -> dict[str, dict[str, list[str]]] | None:
    """config -> split -> file patterns from a README's YAML ``configs:`` (None: no such list)."""
    data = readme.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataValidationError(utf8_problem(exc, data), file=str(readme)) from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise DataValidationError(
            "the YAML front matter opened with '---' is never closed with '---'", file=str(readme)
        ) from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        raise DataValidationError(
            f"the YAML front matter is not valid YAML: {exc}", file=str(readme)
        ) from None
    if not isinstance(meta, dict) or "configs" not in meta:
        return None
    entries = meta["configs"]
    if not isinstance(entries, list):
        raise DataValidationError(
            "'configs' must be a list of {config_name, data_files} mappings, "
            f"got {type(entries).__name__}",
            file=str(readme),
        )
    layout: dict[str, dict[str, list[str]]] = {}
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict) or "data_files" not in entry:
            raise DataValidationError(
                f"configs entry {k} (0-based) must be a mapping with 'config_name' and "
                f"'data_files', got {entry!r}",
                file=str(readme),
            )
        name = str(entry.get("config_name", "default"))
        layout[name] = _data_files(entry["data_files"], name, readme)
    return layout


def _data_files(spec: Any, config: str, readme: Path) -> dict[str, list[str]]:
    """Normalise a README ``data_files`` value to split -> list of path patterns."""

    def paths(value: Any) -> list[str]:
        if isinstance(value, str):
            return [_inside(value, config, readme)]
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return [_inside(v, config, readme) for v in value]
        raise DataValidationError(
            f"config {config!r}: data file paths must be a string or a list of strings, "
            f"got {value!r}",
            file=str(readme),
        )

    if isinstance(spec, str) or (isinstance(spec, list) and all(isinstance(v, str) for v in spec)):
        return {"train": paths(spec)}
    if isinstance(spec, dict):
        return {str(split): paths(value) for split, value in spec.items()}
    if isinstance(spec, list):
        out: dict[str, list[str]] = {}
        for item in spec:
            if not isinstance(item, dict) or "path" not in item:
                raise DataValidationError(
                    f"config {config!r}: each data_files item must be a mapping with 'split' "
                    f"and 'path', got {item!r}",
                    file=str(readme),
                )
            out.setdefault(str(item.get("split", "train")), []).extend(paths(item["path"]))
        return out
    raise DataValidationError(
        f"config {config!r}: data_files must be a path, a list of paths, or a list of "
        f"{{split, path}}, got {spec!r}",
        file=str(readme),
    )


def _inside(pattern: str, config: str, readme: Path) -> str:
    """A README data file path, refused when it leaves the dataset folder (an absolute path,
    a drive, or ``..`` above the folder): a dataset reads only its own files."""
    normal = posixpath.normpath(pattern.replace("\\", "/"))
    drive = len(normal) > 1 and normal[1] == ":"
    if normal.startswith("/") or drive or normal == ".." or normal.startswith("../"):
        raise DataValidationError(
            f"config {config!r}: data file {pattern!r} is outside the dataset folder "
            f"{readme.parent}; list paths relative to that folder, inside it (copy the file "
            "into the folder rather than pointing at it)",
            file=str(readme),
        )
    return pattern


def _plain_configs(root: Path) -> dict[str, dict[str, list[str]]]:
    """config -> split -> files of a directory without a README ``configs:`` list.

    Three layouts, mixed freely: ``<config>.<ext>`` (split ``train``);
    ``<config>/<split>.<ext>`` or its hub shards ``<config>/<split>-00000-of-00002.<ext>``
    (what ``push_to_hub`` writes, e.g. ``wmdp-bio/test-00000-of-00001.parquet``, sometimes
    with a ``-<hash>`` after the shard count); and ``<config>/<split>/<shard>.<ext>``, the
    hub's parquet conversion (``refs/convert/parquet``: ``wmdp-bio/test/0000.parquet``). One
    split read from two different sources (a ``forget.json`` next to the
    ``forget-00000-of-00001.parquet`` shards) is an error naming both files.
    """
    found: dict[str, dict[str, list[tuple[Path, str]]]] = {}

    def add(config: str, split: str, path: Path, group: str) -> None:
        # group: what the file belongs to (itself, its shard series, its split folder)
        files = found.setdefault(config, {}).setdefault(split, [])
        if files and files[0][1] != group:
            raise DataValidationError(
                f"config {config!r} split {split!r} has two files of different sources, "
                f"{files[0][0].relative_to(root)} and {path.relative_to(root)}; keep one "
                "(a hub download's README.md, when kept, says which files each split reads)",
                file=str(root),
            )
        files.append((path, group))

    def is_data(path: Path) -> bool:
        return path.is_file() and path.suffix in DATA_SUFFIXES and not path.name.startswith(".")

    def is_folder(path: Path) -> bool:
        return path.is_dir() and not path.name.startswith(".")

    for path in sorted(root.iterdir()):
        if is_data(path):
            add(path.stem, "train", path, group=path.name)
        elif is_folder(path):
            for child in sorted(path.iterdir()):
                if is_data(child):
                    shard = _SHARD_NAME.match(child.stem)
                    if shard:
                        split = shard.group("split")
                        add(path.name, split, child, group=f"{split}-shards{child.suffix}")
                    else:
                        add(path.name, child.stem, child, group=child.name)
                elif is_folder(child):
                    for leaf in sorted(child.iterdir()):
                        if is_data(leaf):
                            add(path.name, child.name, leaf, group=f"{child.name}/")
    return {
        config: {
            split: [p.relative_to(root).as_posix() for p, _ in files]
            for split, files in splits.items()
        }
        for config, splits in found.items()
    }


# ----------------------------------------------------------------------------------------
# Reading one file
def _read_file(path: Path) -> list[Record]:
    """Records of one JSON array / JSON Lines / parquet file (told apart by content).

    Read here, from the file's bytes, not through ``datasets``: its cache keys on the path
    and the modification time, so a file rewritten with its mtime kept came back with its old
    records. Records come out as ``datasets`` gives them: every record has every field of the
    file (``None`` where a record lacks it), in the order the fields first appear; a JSON
    array of strings reads as ``{"text": ...}`` records.
    """
    where = str(path)
    if not path.is_file():
        raise DataValidationError("no such file", file=where)
    with path.open("rb") as fh:
        head = fh.read(len(_PARQUET_MAGIC))
    if not head:
        raise DataValidationError("empty split: the file is empty (no records)", file=where)
    parquet = head == _PARQUET_MAGIC
    records = _read_parquet(path) if parquet else _read_json(path, path.read_bytes())
    if not records:
        raise DataValidationError("empty split: no records", file=where)
    return records


def _read_parquet(path: Path) -> list[Record]:
    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        return _parquet_problem(path, exc)


def _parquet_problem(path: Path, exc: BaseException) -> NoReturn:
    try:
        pq.read_metadata(path)
    except (pa.ArrowException, OSError) as parquet_exc:
        raise DataValidationError(
            f"starts like a parquet file but is not a valid one: {parquet_exc}", file=str(path)
        ) from exc
    raise DataValidationError(f"could not read this parquet file: {exc}", file=str(path)) from exc


_JSON_EXPECTED = "expected a JSON array of objects, JSON Lines (one object per line), or parquet"
_LFS_POINTER = b"version https://git-lfs"


def _read_json(path: Path, data: bytes) -> list[Record]:
    """Records of a JSON array or JSON Lines file, with the exact place of any problem."""
    where = str(path)
    if data.startswith(_LFS_POINTER):
        raise DataValidationError(
            "this is a Git LFS pointer, not the data: fetch the file itself (git lfs pull, or "
            "download it from the hub)",
            file=where,
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataValidationError(
            f"{utf8_problem(exc, data)}; neither UTF-8 JSON / JSON Lines nor parquet", file=where
        ) from None
    text = text.removeprefix("\ufeff")
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        raise DataValidationError("empty split: the file holds no records", file=where)
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataValidationError(
                f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}; "
                f"{_JSON_EXPECTED}",
                file=where,
            ) from None
        if not isinstance(items, list) or not items:
            raise DataValidationError("empty split: the JSON array has no records", file=where)
        if all(isinstance(item, str) for item in items):  # a list of texts, as datasets reads it
            return _fill_fields([{"text": item} for item in items])
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise DataValidationError(
                    f"expected a JSON object, got {type(item).__name__}; {_ZERO_BASED}",
                    file=where,
                    record=i,
                )
        return _fill_fields(items)
    records: list[Record] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            whole = _one_object(text)  # one object over several lines: one record
            if whole is not None:
                return [whole]
            raise DataValidationError(
                f"line {lineno} (counting from 1) is not valid JSON: {err.msg} at column "
                f"{err.colno}; {_JSON_EXPECTED}",
                file=where,
            ) from None
        if not isinstance(item, dict):
            raise DataValidationError(
                f"line {lineno} (counting from 1) is a JSON {type(item).__name__}, not an "
                f"object; {_JSON_EXPECTED}",
                file=where,
            )
        records.append(item)
    return _fill_fields(records)


def _one_object(text: str) -> Record | None:
    """The file's single JSON object, when the whole file is one (else None)."""
    try:
        item = json.loads(text)
    except json.JSONDecodeError:
        return None
    return item if isinstance(item, dict) else None


def _fill_fields(records: list[Record]) -> list[Record]:
    """Every record with every field of the file, ``None`` where it lacks one (as a table)."""
    fields: dict[str, None] = {}
    for record in records:
        fields.update(dict.fromkeys(record))
    return [{name: record.get(name) for name in fields} for record in records]


# ----------------------------------------------------------------------------------------
# Validation helpers
def _validate(records: list[Record], schema: SchemaChoice, where: str) -> None:
    if schema is None:
        return
    if callable(schema):
        schema = schema(records)
    validate_records(records, get_schema(schema), file=where)


def _qa_schema(records: list[Record]) -> str:
    """``tofu_perturbed`` when the records carry perturbed answers, else ``tofu_qa``."""
    has = any(isinstance(r, Mapping) and r.get("perturbed_answer") is not None for r in records)
    return "tofu_perturbed" if has else "tofu_qa"


def _options_schema(records: list[Record]) -> str:
    has = any(isinstance(r, Mapping) and r.get("perturbed_answer") is not None for r in records)
    return "tofu_options_perturbed" if has else "tofu_options"


def _check_disjoint(
    a: _Split, a_role: str, b: _Split, b_role: str, keys: Sequence[tuple[str, ...]]
) -> None:
    """Raise on the first record of ``a`` sharing a key (all fields equal) with one of ``b``."""
    index: list[dict[tuple[Any, ...], int]] = [{} for _ in keys]
    for j, record in enumerate(b.records):
        for table, key in zip(index, keys, strict=True):
            value = _key(record, key)
            if value is not None:
                table.setdefault(value, j)
    for i, record in enumerate(a.records):
        for table, key in zip(index, keys, strict=True):
            value = _key(record, key)
            if value is None or value not in table:
                continue
            j = table[value]
            a_file, a_index = a.locate(i)
            b_file, b_index = b.locate(j)
            shown = " and ".join(key)
            sample = short_repr(record.get(key[0]))
            raise DataValidationError(
                f"the {a_role} set ({a.config}) overlaps the {b_role} set ({b.config}): this "
                f"record and record {b_index} of {b_file} have the same {shown} ({sample}; "
                f"compared ignoring case and whitespace); the splits must be disjoint "
                f"({_ZERO_BASED})",
                file=a_file,
                record=a_index,
                field=key[0],
            )


def _key(record: Record, fields: tuple[str, ...]) -> tuple[Any, ...] | None:
    """The record's values of ``fields``, normalised so that texts differing only in case
    or whitespace (and ``3`` / ``"3"`` ids) compare equal; None when one is missing."""
    values = []
    for name in fields:
        value = record.get(name)
        if value is None or isinstance(value, (list, dict)):
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        values.append(" ".join(value.split()).casefold() if isinstance(value, str) else value)
    return tuple(values)


#: the fields that say what a record holds, by record kind (the first that fits is used)
_CONTENT_KEYS: tuple[tuple[str, ...], ...] = (("question", "answer"), ("prompt", "gt"), ("text",))


def _check_duplicates(split: _Split, role: str, *, exact_is_error: bool = False) -> None:
    """Repeated records inside one split: a repeat is trained on twice and counted twice in
    the metrics. An exact repeat is an error when ``exact_is_error`` (the forget set: what
    is forgotten must be a set); any other repeat, and records with the same content (the
    same question and answer, or text, ignoring case and whitespace), is a
    :class:`DataWarning` naming the file and the records."""
    records = split.records
    if not records:
        return
    fields = next((k for k in _CONTENT_KEYS if all(f in records[0] for f in k)), None)
    first_exact: dict[str, int] = {}
    first_key: dict[tuple[Any, ...], int] = {}
    exact: list[tuple[int, int]] = []
    similar: list[tuple[int, int]] = []
    for i, record in enumerate(records):
        blob = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
        if blob in first_exact:
            exact.append((first_exact[blob], i))
            continue
        first_exact[blob] = i
        value = _key(record, fields) if fields is not None else None
        if value is None:
            continue
        if value in first_key:
            similar.append((first_key[value], i))
        else:
            first_key[value] = i

    def pairs(found: list[tuple[int, int]]) -> str:
        shown = []
        for i, j in found[:5]:
            (fi, ri), (fj, rj) = split.locate(i), split.locate(j)
            shown.append(
                f"record {rj} repeats record {ri}"
                if fi == fj
                else f"record {rj} of {fj} repeats record {ri} of {fi}"
            )
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        return "; ".join(shown) + more

    if exact and exact_is_error:
        file, _ = split.locate(exact[0][1])
        raise DataValidationError(
            f"the {role} set ({split.config}) holds the same record more than once: "
            f"{pairs(exact)} ({_ZERO_BASED}); a repeated record is unlearned twice and "
            "counted twice in forget quality: remove the repeats",
            file=file,
        )
    if exact or similar:
        what = " and ".join(fields) if fields else "content"
        found = sorted(exact + similar, key=lambda p: p[1])
        file, _ = split.locate(found[0][1])
        warnings.warn(
            f"{file}: the {role} set ({split.config}) repeats records (the same {what}, "
            f"ignoring case and whitespace): {pairs(found)} ({_ZERO_BASED}); each repeat "
            "is trained on and counted again: remove them unless meant",
            DataWarning,
            stacklevel=3,
        )


def _forget_percent(forget: str) -> int:
    match = _FORGET_NAME.match(forget) if isinstance(forget, str) else None
    percent = int(match.group(1)) if match else 0
    if not 1 <= percent <= 99:
        raise ConfigError(
            "load_tofu",
            "forget",
            forget,
            "expected 'forgetNN' with NN the percent of people forgotten, "
            f"e.g. {', '.join(repr(n) for n in TOFU_FORGET_SPLITS)}."
            + did_you_mean(str(forget), TOFU_FORGET_SPLITS),
        )
    return percent


def _is_tofu_config(name: str) -> bool:
    return name.startswith(("forget", "retain")) or name == "full"


def _listing(names: Iterable[str]) -> str:
    names = sorted(names)
    return ", ".join(names) if names else "(none)"
