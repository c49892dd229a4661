"""Typed, validated configuration dataclasses.

A config is a frozen dataclass that subclasses :class:`Config`. Field types are checked and
gently coerced at construction (``int`` -> ``float``, ``list`` -> ``tuple``, ``dict`` -> a
nested config); numeric bounds and choices come from :func:`param`; cross-field rules go in
``validate``. Every error names the field, the bad value and what is allowed::

    @dataclass(frozen=True)
    class TrainConfig(Config):
        '''How to train. lr: peak learning rate. epochs: passes over the data.'''
        lr: float = param(3e-3, gt=0)
        epochs: int = param(30, ge=1)

    TrainConfig.from_dict({"lr": 0.01}).with_overrides(["epochs=5"]).to_yaml("train.yaml")
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeVar, get_args, get_origin

import yaml

from unlearnkit.core.errors import ConfigError, ConfigFileError, did_you_mean, utf8_problem

C = TypeVar("C", bound="Config")

_MISSING = dataclasses.MISSING


class _YamlLoader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` / ``5E+2`` as floats (YAML 1.2 style).

    PyYAML follows YAML 1.1, where a float needs a dot, so ``lr: 1e-3`` would load as the
    string ``'1e-3'`` and fail validation of a float field.
    """


# YAML 1.2 core-schema integers and booleans: PyYAML's YAML 1.1 rules read ``010`` as 8
# (octal), ``1:30`` as 90 (base 60) and ``no`` / ``on`` as booleans.
_YamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith(("0x", "0o")):
        return int(text, 16 if text[1] == "x" else 8)
    return int(text, 10)


_YamlLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """A mapping whose keys must be distinct: PyYAML would silently keep the last value."""
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: construct_mapping reports it
            break
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {first.start_mark.line + 1}); a key may "
                "appear once per mapping: delete one of them",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=True)


_YamlLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def _load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_YamlLoader)  # safe: a SafeLoader subclass


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A one-line reason for a YAML error, with its line and column and a hint of the fix."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    text = " ".join((f"{context}, {problem}" if context else str(problem)).split())
    hint = ""
    if "could not determine a constructor for the tag" in text:
        hint = (
            "; tags such as !!python/object are not allowed (a spec holds plain values: "
            "numbers, strings, lists and mappings)"
        )
    elif "'\\t'" in text:
        hint = "; YAML indents with spaces only: replace the tabs with spaces"
    elif "flow" in text or "end of the stream" in text:
        hint = "; check that every [ and { is closed"
    return f"{where}{text}{hint}"


def load_yaml_file(path: str | Path, owner: str = "config") -> Any:
    """Parse a YAML file with the toolkit's rules (YAML 1.2 numbers and booleans, no tags,
    no duplicate keys). Raises :class:`ConfigError` naming the file, the line and the fix
    for a file that is missing, not UTF-8 or not valid YAML."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(owner, str(path), "the YAML file does not exist") from None
    except IsADirectoryError:
        raise ConfigFileError(owner, str(path), "a directory, not a YAML file") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(owner, str(path), utf8_problem(exc, data)) from None
    try:
        return _load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigFileError(owner, str(path), f"not valid YAML at {yaml_problem(exc)}") from None


def param(
    default: Any = _MISSING,
    *,
    default_factory: Any = _MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: Sequence[Any] | None = None,
    help: str = "",
) -> Any:
    """A dataclass field with bounds (``ge``, ``gt``, ``le``, ``lt``) and/or ``choices``."""
    metadata = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "help": help}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class of every typed config. Subclasses must be ``@dataclass(frozen=True)``."""

    _hints_cache: ClassVar[dict[type, dict[str, Any]]] = {}

    def __post_init__(self) -> None:
        hints = _type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            coerced = _coerce(self, f.name, value, hints.get(f.name, Any))
            _check_bounds(self, f, coerced)
            if coerced is not value:
                object.__setattr__(self, f.name, coerced)
        self.validate()

    # -- hooks -----------------------------------------------------------------------------
    def validate(self) -> None:
        """Cross-field checks; raise with :meth:`fail`. Single-field rules use :func:`param`."""

    def fail(self, field: str, value: Any, allowed: str) -> typing.NoReturn:
        raise ConfigError(type(self).__name__, field, value, allowed)

    # -- (de)serialisation -----------------------------------------------------------------
    @classmethod
    def coerce(
        cls,
        value: Self | Mapping[str, Any] | None,
        owner: str,
        *,
        error: type[Exception] = TypeError,
    ) -> Self:
        """``value`` as a ``cls``, for a constructor that takes its config (a method, a
        metric, an attack): None gives the defaults, a mapping is read with
        :meth:`from_dict` (an unknown key is a :class:`ConfigError` with a suggestion), an
        instance of ``cls`` or of a subclass is returned as it is. Anything else (another
        config class, a string) raises ``error``, naming ``owner`` (what was being built),
        the class it takes and how to make one."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        fields = ", ".join(f.name for f in dataclasses.fields(cls) if f.init)
        raise error(
            f"{owner} takes a {cls.__name__} or a dict of its fields, got a value of type "
            f"{type(value).__name__}; pass {cls.__name__}(...) or a dict with some of: {fields}"
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None = None, **kwargs: Any) -> Self:
        """Build from a mapping (unknown keys are an error with a suggestion)."""
        merged = {**(data or {}), **kwargs}
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        for key in merged:
            if key not in names:
                raise ConfigError(
                    cls.__name__,
                    str(key),
                    merged[key],
                    f"no such field.{did_you_mean(str(key), names)} "
                    f"Fields: {', '.join(sorted(names))}.",
                )
        return cls(**merged)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (tuples as lists, nested configs as dicts), ready for YAML or JSON."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: Iterable[str] = ()) -> Self:
        path = Path(path)
        data = load_yaml_file(path, cls.__name__) or {}
        if not isinstance(data, dict):
            raise ConfigError(cls.__name__, "<file>", str(path), "the YAML must be a mapping")
        return cls.from_dict(data).with_overrides(overrides)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The YAML text; also written (atomically) to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            from unlearnkit.core.io import atomic_write_text

            atomic_write_text(path, text)
        return text

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def with_overrides(self, overrides: Iterable[str] | Mapping[str, Any]) -> Self:
        """A copy with ``key=value`` overrides applied (``a.b=3`` reaches nested configs).

        Values are parsed as YAML scalars/collections: ``lr=1e-3``, ``layers=[1,2]``,
        ``name=null``, ``flag=true``.
        """
        pairs = parse_overrides(overrides) if not isinstance(overrides, Mapping) else overrides
        data = self.to_dict()
        for dotted, value in pairs.items():
            _set_dotted(type(self), data, dotted, value)
        return type(self).from_dict(data)


def parse_overrides(overrides: Iterable[str]) -> dict[str, Any]:
    """Parse ``["a=1", "b.c=[1, 2]"]`` into ``{"a": 1, "b.c": [1, 2]}`` (YAML values)."""
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(
                "overrides", str(item), item, "expected key=value (for example lr=1e-3)"
            )
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError("overrides", "<key>", item, "the key before '=' is empty")
        try:
            out[key] = _load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ConfigError(
                "overrides", key, raw, f"not a valid YAML value ({yaml_problem(exc)})"
            ) from None
    return out


# ----------------------------------------------------------------------------------------
def _type_hints(cls: type) -> dict[str, Any]:
    hints = Config._hints_cache.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        Config._hints_cache[cls] = hints
    return hints


def _describe(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in get_args(tp))
    if origin in (tuple, list):
        args = get_args(tp)
        inner = _describe(args[0]) if args else "any"
        return f"a list of {inner}"
    if origin is dict:
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _coerce(cfg: Config, name: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against annotation ``tp``; return it, possibly converted."""
    owner = type(cfg).__name__

    def bad() -> typing.NoReturn:
        raise ConfigError(owner, name, value, f"expected {_describe(tp)}")

    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            bad()
        nested_error: ConfigError | None = None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(cfg, name, value, arg)
            except ConfigError as exc:
                # a mapping meant for a nested config: its own message is the useful one
                if isinstance(arg, type) and issubclass(arg, Config) and isinstance(value, Mapping):
                    nested_error = exc
        if nested_error is not None:
            raise nested_error
        bad()
    if origin is Literal:
        # bools only match bools (True == 1 in Python, but not here)
        if any(type(a) is type(value) and a == value for a in get_args(tp)):
            return value
        raise ConfigError(owner, name, value, f"expected {_describe(tp)}")
    if origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            bad()
        args = get_args(tp)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = tuple(_coerce(cfg, name, v, args[0]) for v in value)
        elif origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(owner, name, value, f"expected exactly {len(args)} items")
            items = tuple(_coerce(cfg, name, v, a) for v, a in zip(value, args, strict=True))
        else:
            inner = args[0] if args else Any
            items = tuple(_coerce(cfg, name, v, inner) for v in value)
        return items if origin is tuple else list(items)
    if origin is dict:
        if not isinstance(value, Mapping):
            bad()
        return dict(value)
    if isinstance(tp, type) and issubclass(tp, Config):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return tp.from_dict(value)
        bad()
    if tp is bool:
        if isinstance(value, bool):
            return value
        bad()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        bad()
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        bad()
    if tp is str:
        if isinstance(value, str):
            return value
        bad()
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        bad()
    if isinstance(tp, type) and not isinstance(value, tp):
        bad()
    return value


def _check_bounds(cfg: Config, f: dataclasses.Field, value: Any) -> None:
    meta = f.metadata
    if value is None:
        return
    owner = type(cfg).__name__
    choices = meta.get("choices") if meta else None
    # NaN passes every comparison below and inf most bounds: a number must be finite
    # unless its choices list it (GradNorm's p=inf)
    for v in value if isinstance(value, (tuple, list)) else (value,):
        if isinstance(v, float) and not math.isfinite(v) and v not in (choices or ()):
            raise ConfigError(owner, f.name, value, "must be a finite number (not nan or inf)")
    if not meta:
        return
    if choices is not None and value not in choices:
        raise ConfigError(
            owner,
            f.name,
            value,
            f"must be one of {', '.join(repr(c) for c in choices)}"
            + did_you_mean(str(value), [str(c) for c in choices]),
        )
    values = value if isinstance(value, (tuple, list)) else (value,)
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        for key, ok, word in (
            ("ge", lambda a, b: a >= b, ">="),
            ("gt", lambda a, b: a > b, ">"),
            ("le", lambda a, b: a <= b, "<="),
            ("lt", lambda a, b: a < b, "<"),
        ):
            bound = meta.get(key)
            if bound is not None and not ok(v, bound):
                raise ConfigError(owner, f.name, value, f"must be {word} {bound}")


def _plain(value: Any) -> Any:
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def _set_dotted(cls: type[Config], data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node: dict[str, Any] = data
    node_cls: type | None = cls
    for i, part in enumerate(parts):
        fields = (
            {f.name: f for f in dataclasses.fields(node_cls)}
            if node_cls is not None and dataclasses.is_dataclass(node_cls)
            else None
        )
        if fields is not None and part not in fields:
            raise ConfigError(
                node_cls.__name__ if node_cls else cls.__name__,
                part,
                value,
                f"no such field (override {dotted!r}).{did_you_mean(part, fields)} "
                f"Fields: {', '.join(sorted(fields))}.",
            )
        if i == len(parts) - 1:
            node[part] = value
            return
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            raise ConfigError(cls.__name__, dotted, value, f"{part!r} is not a nested config")
        hint = _type_hints(node_cls).get(part) if fields is not None else None
        node_cls = hint if isinstance(hint, type) and issubclass(hint, Config) else None
        node = nxt
