"""Record schemas of the public unlearning benchmarks (TOFU, MUSE), kept as data.

A :class:`Schema` is a named tuple of :class:`FieldSpec` rows; :data:`SCHEMAS` holds every
schema by name and :func:`validate_records` checks a split against one::

    validate_records(records, "tofu_perturbed", file="forget10_perturbed.json")

Public fields follow the benchmarks' own files:

- TOFU (``locuslab/TOFU``): ``question, answer`` (``forgetNN``, ``retainNN``, ``holdoutNN``,
  ``full``); ``forgetNN_perturbed`` / ``retain_perturbed`` add ``paraphrased_answer``, a
  non-empty list ``perturbed_answer`` (5 wrong answers) and ``paraphrased_question``
  (optional here); ``real_authors`` / ``world_facts`` carry ``option1`` .. ``option4``;
  ``real_authors_perturbed`` / ``world_facts_perturbed`` hold only ``question, answer`` and
  ``perturbed_answer`` (3 wrong answers): no paraphrase, so TOFU scores their truth ratio
  against ``answer`` itself.
- MUSE (``muse-bench/MUSE-News``, ``MUSE-Books``): ``text`` (configs ``raw``,
  ``privleak``, ``train``, ``scal``, ``sust``), ``prompt, gt`` (``verbmem``),
  ``question, answer`` (``knowmem``).
- WMDP (``cais/wmdp``, configs ``wmdp-bio`` / ``wmdp-chem`` / ``wmdp-cyber``, split ``test``)
  and MMLU (``cais/mmlu``): ``question``, ``choices`` (a list of strings), ``answer`` (the
  0-based index of the right choice); MMLU adds ``subject``.

Our synthetic world adds its own optional fields (:data:`OWN_FIELDS`), type-checked when
present. Unknown extra fields are allowed: real releases add columns over time.
A value of ``None`` counts as absent (the loaders fill the fields a record lacks with ``None``,
as ``datasets`` does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearnkit.core.errors import DataValidationError, UnknownNameError, short_repr

_ZERO_BASED = "record numbers count from 0"


@dataclass(frozen=True)
class FieldSpec:
    """One field of a record.

    name: the key. types: the accepted Python types of the value (``bool`` never passes as
    ``int``). required: whether every record must carry it (``None`` counts as absent).
    item: the element type when the value is a list. non_empty: an empty (or blank) string,
    or an empty list, is rejected.
    """

    name: str
    types: tuple[type, ...]
    required: bool = True
    item: type | None = None
    non_empty: bool = False

    def describe(self) -> str:
        """The expected type in words, for error messages ("str", "list of str", ...)."""
        words = []
        for tp in self.types:
            if tp is list and self.item is not None:
                words.append(f"list of {self.item.__name__}")
            else:
                words.append(tp.__name__)
        text = " or ".join(words)
        return f"non-empty {text}" if self.non_empty else text

    def problem(self, value: Any) -> str | None:
        """Why ``value`` (not ``None``) does not fit this field, or ``None`` when it does."""
        if not _is_instance(value, self.types):
            return f"expected {self.describe()}, got {type(value).__name__} ({short_repr(value)})"
        if isinstance(value, list) and self.item is not None:
            for j, element in enumerate(value):
                if not _is_instance(element, (self.item,)):
                    return (
                        f"item {j} (0-based) expected {self.item.__name__}, "
                        f"got {type(element).__name__} ({short_repr(element)})"
                    )
                if self.non_empty and isinstance(element, str) and not element.strip():
                    return f"item {j} (0-based) is an empty string; text is required"
        if self.non_empty:
            if isinstance(value, str) and not value.strip():
                return "is an empty string; text is required"
            if isinstance(value, list) and not value:
                return f"is an empty list; expected {self.describe()}"
        return None


@dataclass(frozen=True)
class Schema:
    """A named record layout: its fields, in order (required ones first by convention)."""

    name: str
    fields: tuple[FieldSpec, ...]
    description: str = ""

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if not f.required)

    def extend(self, name: str, *fields: FieldSpec, description: str = "") -> Schema:
        """A new schema with this one's fields plus ``fields`` (same name replaces)."""
        added = {f.name for f in fields}
        kept = tuple(f for f in self.fields if f.name not in added)
        return Schema(name, kept + tuple(fields), description)


def text(name: str, *, required: bool = True) -> FieldSpec:
    """A string field that must hold text (not empty or blank)."""
    return FieldSpec(name, (str,), required=required, non_empty=True)


def text_list(name: str, *, required: bool = True) -> FieldSpec:
    """A non-empty list of non-empty strings."""
    return FieldSpec(name, (list,), required=required, item=str, non_empty=True)


#: Our own fields (synthetic world), optional everywhere, type-checked when present.
OWN_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("person_id", (str, int), required=False),
    FieldSpec("attribute", (str,), required=False),
    FieldSpec("form", (str,), required=False),
    FieldSpec("value", (str, int, float), required=False),
    FieldSpec("group", (str, int), required=False),
    FieldSpec("options", (list,), required=False, item=str, non_empty=True),
    FieldSpec("answer_index", (int,), required=False),
)

_OPTIONS = tuple(text(f"option{k}") for k in range(1, 5))

TOFU_QA = Schema(
    "tofu_qa",
    (text("question"), text("answer"), *OWN_FIELDS),
    "TOFU question/answer pair (forgetNN, retainNN, full, holdoutNN without perturbations).",
)
TOFU_PERTURBED = TOFU_QA.extend(
    "tofu_perturbed",
    text("paraphrased_question", required=False),
    text("paraphrased_answer"),
    text_list("perturbed_answer"),
    description="TOFU evaluation record (forgetNN_perturbed, retain_perturbed, holdoutNN).",
)
TOFU_OPTIONS = TOFU_QA.extend(
    "tofu_options",
    *_OPTIONS,
    description="TOFU four-option question (world_facts, real_authors).",
)
TOFU_OPTIONS_PERTURBED = TOFU_QA.extend(
    "tofu_options_perturbed",
    text_list("perturbed_answer"),
    text("paraphrased_question", required=False),
    text("paraphrased_answer", required=False),
    *(FieldSpec(f.name, f.types, required=False, non_empty=True) for f in _OPTIONS),
    description="TOFU world_facts_perturbed / real_authors_perturbed: question, answer and the "
    "wrong answers (perturbed_answer); a paraphrase and the options are optional (the public "
    "files have neither).",
)
MUSE_TEXT = Schema(
    "muse_text", (text("text"), *OWN_FIELDS), "MUSE raw or privleak text (a document)."
)
MUSE_VERBMEM = Schema(
    "muse_verbmem",
    (text("prompt"), text("gt"), *OWN_FIELDS),
    "MUSE verbatim-memorisation item: a prompt and its ground-truth continuation.",
)
MUSE_KNOWMEM = Schema(
    "muse_knowmem",
    (text("question"), text("answer"), *OWN_FIELDS),
    "MUSE knowledge-memorisation question/answer pair.",
)

WMDP_MCQ = Schema(
    "wmdp_mcq",
    (
        text("question"),
        text_list("choices"),
        FieldSpec("answer", (int,)),
        FieldSpec("entity", (str,), required=False),
        FieldSpec("property", (str,), required=False),
        FieldSpec("domain", (str,), required=False),
    ),
    "WMDP / MMLU multiple-choice question: choices and the 0-based index of the right one.",
)

#: Every schema by name.
SCHEMAS: Mapping[str, Schema] = {
    s.name: s
    for s in (
        TOFU_QA,
        TOFU_PERTURBED,
        TOFU_OPTIONS,
        TOFU_OPTIONS_PERTURBED,
        MUSE_TEXT,
        MUSE_VERBMEM,
        MUSE_KNOWMEM,
        WMDP_MCQ,
    )
}


def get_schema(schema: Schema | str) -> Schema:
    """The schema itself, or the one registered under that name ("did you mean" if unknown)."""
    if isinstance(schema, Schema):
        return schema
    try:
        return SCHEMAS[schema]
    except KeyError:
        raise UnknownNameError("record schema", str(schema), SCHEMAS) from None


def validate_records(
    records: Sequence[Mapping[str, Any]], schema: Schema | str, *, file: str | Path
) -> None:
    """Check every record of one split against ``schema``; raise on the first problem.

    Raises :class:`DataValidationError` naming ``file``, the record (0-based index) and the
    field for: an empty split (no records), a record that is not a mapping, a missing
    required field, a value of the wrong type (expected vs got), an empty string where text
    is required, an empty ``perturbed_answer`` list.
    """
    spec = get_schema(schema)
    where = str(file)
    if len(records) == 0:
        raise DataValidationError(
            f"empty split: no records (expected {spec.name} records with fields "
            f"{', '.join(spec.required)})",
            file=where,
        )
    for i, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise DataValidationError(
                f"expected a record (a JSON object), got {type(record).__name__} "
                f"({short_repr(record)}); {_ZERO_BASED}",
                file=where,
                record=i,
            )
        for field in spec.fields:
            value = record.get(field.name)
            if value is None:
                if field.required:
                    present = ", ".join(k for k, v in record.items() if v is not None)
                    raise DataValidationError(
                        f"missing required field of a {spec.name} record "
                        f"(expected {field.describe()}; the record has: {present or 'nothing'})"
                        f"; {_ZERO_BASED}",
                        file=where,
                        record=i,
                        field=field.name,
                    )
                continue
            problem = field.problem(value)
            if problem is not None:
                raise DataValidationError(
                    f"{problem}; {_ZERO_BASED}", file=where, record=i, field=field.name
                )


def _is_instance(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)
