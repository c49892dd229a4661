"""Typed configs: coercion, validation messages, from_dict, YAML round trip, overrides."""

import dataclasses
from dataclasses import dataclass
from typing import Literal

import pytest

from unlearnkit.core.config import Config, param, parse_overrides
from unlearnkit.core.errors import ConfigError


@dataclass(frozen=True)
class Inner(Config):
    """A nested config."""

    x: int = param(1, ge=0)
    scale: float = 1.0


@dataclass(frozen=True)
class Train(Config):
    """A small training config exercising every kind of field."""

    lr: float = param(3e-3, gt=0)
    epochs: int = param(3, ge=1, le=100)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    schedule: str = param("cosine", choices=("cosine", "linear", "constant"))
    layers: tuple[int, ...] = param((4, 5), ge=0)
    name: str | None = None
    nested: Inner = dataclasses.field(default_factory=Inner)
    shuffle: bool = True
    warmup: float = param(0.0, ge=0, lt=1)

    def validate(self) -> None:
        if self.warmup > 0 and self.epochs < 2:
            self.fail("warmup", self.warmup, f"a warmup needs epochs >= 2 (epochs={self.epochs})")


# -- construction ------------------------------------------------------------------------
def test_defaults_are_valid():
    cfg = Train()
    assert cfg.lr == 3e-3
    assert cfg.layers == (4, 5)
    assert cfg.nested == Inner(x=1, scale=1.0)


def test_valid_construction_keeps_values():
    cfg = Train(
        lr=0.5,
        epochs=100,
        optimizer="sgd",
        schedule="linear",
        layers=(0, 7),
        name="run",
        nested=Inner(x=0, scale=2.5),
        shuffle=False,
        warmup=0.5,
    )
    assert (cfg.lr, cfg.epochs, cfg.optimizer, cfg.schedule) == (0.5, 100, "sgd", "linear")
    assert (cfg.layers, cfg.name, cfg.shuffle, cfg.warmup) == ((0, 7), "run", False, 0.5)
    assert cfg.nested.x == 0 and cfg.nested.scale == 2.5


@pytest.mark.parametrize(
    ("kwargs", "owner", "field", "shown", "allowed"),
    [
        ({"lr": -1.0}, "Train", "lr", "-1.0", "must be > 0"),
        ({"lr": 0}, "Train", "lr", "0.0", "must be > 0"),
        ({"lr": True}, "Train", "lr", "True", "expected float"),
        ({"lr": "fast"}, "Train", "lr", "'fast'", "expected float"),
        ({"epochs": 0}, "Train", "epochs", "0", "must be >= 1"),
        ({"epochs": 101}, "Train", "epochs", "101", "must be <= 100"),
        ({"epochs": True}, "Train", "epochs", "True", "expected int"),
        ({"epochs": 2.5}, "Train", "epochs", "2.5", "expected int"),
        ({"epochs": "3"}, "Train", "epochs", "'3'", "expected int"),
        ({"optimizer": "adam"}, "Train", "optimizer", "'adam'", "expected one of 'adamw', 'sgd'"),
        ({"optimizer": True}, "Train", "optimizer", "True", "expected one of 'adamw', 'sgd'"),
        (
            {"schedule": "cosin"},
            "Train",
            "schedule",
            "'cosin'",
            "must be one of 'cosine', 'linear', 'constant' Did you mean 'cosine'?",
        ),
        ({"layers": (1, -2)}, "Train", "layers", "(1, -2)", "must be >= 0"),
        ({"layers": "12"}, "Train", "layers", "'12'", "expected a list of int"),
        ({"layers": 3}, "Train", "layers", "3", "expected a list of int"),
        ({"layers": [1, "a"]}, "Train", "layers", "'a'", "expected int"),
        ({"name": 3}, "Train", "name", "3", "expected str or null"),
        ({"nested": 5}, "Train", "nested", "5", "expected Inner"),
        ({"nested": {"x": -1}}, "Inner", "x", "-1", "must be >= 0"),
        ({"shuffle": 1}, "Train", "shuffle", "1", "expected bool"),
        ({"shuffle": "yes"}, "Train", "shuffle", "'yes'", "expected bool"),
        ({"warmup": 1}, "Train", "warmup", "1.0", "must be < 1"),
        ({"warmup": -0.1}, "Train", "warmup", "-0.1", "must be >= 0"),
    ],
)
def test_bad_value_message_names_class_field_value_and_allowed(
    kwargs, owner, field, shown, allowed
):
    with pytest.raises(ConfigError) as info:
        Train(**kwargs)
    err = info.value
    assert (err.owner, err.field) == (owner, field)
    assert str(err) == f"{owner}.{field} = {shown} is invalid: {allowed}"
    assert isinstance(err, ValueError)  # callers may catch the builtin


def test_list_is_coerced_to_tuple():
    cfg = Train(layers=[1, 2, 3])
    assert cfg.layers == (1, 2, 3)
    assert isinstance(cfg.layers, tuple)


def test_int_is_coerced_to_float_and_integral_float_to_int():
    cfg = Train(lr=1, warmup=0, epochs=4.0)
    assert cfg.lr == 1.0 and type(cfg.lr) is float
    assert cfg.warmup == 0.0 and type(cfg.warmup) is float
    assert cfg.epochs == 4 and type(cfg.epochs) is int


def test_nested_dict_becomes_nested_config():
    cfg = Train(nested={"x": 7, "scale": 3})
    assert isinstance(cfg.nested, Inner)
    assert cfg.nested == Inner(x=7, scale=3.0)
    assert type(cfg.nested.scale) is float


def test_optional_field_accepts_none_and_value():
    assert Train(name=None).name is None
    assert Train(name="a").name == "a"


def test_validate_hook_runs_cross_field_checks():
    assert Train(warmup=0.5, epochs=2).warmup == 0.5
    with pytest.raises(ConfigError) as info:
        Train(warmup=0.5, epochs=1)
    assert info.value.field == "warmup"
    assert str(info.value) == (
        "Train.warmup = 0.5 is invalid: a warmup needs epochs >= 2 (epochs=1)"
    )


def test_configs_are_frozen():
    cfg = Train()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.nested.x = 3  # type: ignore[misc]


def test_replace_revalidates():
    cfg = Train()
    assert cfg.replace(epochs=9).epochs == 9
    assert cfg.epochs == 3
    with pytest.raises(ConfigError, match=r"Train\.epochs = 0 is invalid: must be >= 1"):
        cfg.replace(epochs=0)


# -- dict / YAML -------------------------------------------------------------------------
def test_to_dict_is_plain_data():
    d = Train(layers=(1, 2), nested=Inner(x=4)).to_dict()
    assert d["layers"] == [1, 2]
    assert d["nested"] == {"x": 4, "scale": 1.0}
    assert list(d) == [f.name for f in dataclasses.fields(Train)]


def test_from_dict_builds_and_coerces():
    cfg = Train.from_dict({"lr": 1, "layers": [2], "nested": {"x": 3}}, epochs=5)
    assert cfg == Train(lr=1.0, layers=(2,), nested=Inner(x=3), epochs=5)
    assert Train.from_dict(None) == Train()
    assert Train.from_dict(Train(epochs=8).to_dict()) == Train(epochs=8)


def test_coerce_takes_none_an_instance_or_a_mapping_and_names_the_owner_otherwise():
    """What every constructor that takes a config (methods, metrics, attacks) does with it."""
    assert Train.coerce(None, "Trainer") == Train()
    given = Train(epochs=8)
    assert Train.coerce(given, "Trainer") is given
    assert Train.coerce({"epochs": 8, "nested": {"x": 2}}, "Trainer") == Train(
        epochs=8, nested=Inner(x=2)
    )
    with pytest.raises(ConfigError, match="Did you mean 'lr'"):
        Train.coerce({"lrr": 0.1}, "Trainer")
    with pytest.raises(TypeError) as info:
        Train.coerce(Inner(), "Trainer")
    msg = str(info.value)
    assert msg.startswith(
        "Trainer takes a Train or a dict of its fields, got a value of type Inner; pass"
    )
    assert msg.endswith(
        "some of: lr, epochs, optimizer, schedule, layers, name, nested, shuffle, warmup"
    )

    class Refused(Exception):
        pass

    with pytest.raises(Refused, match="Trainer takes a Train"):
        Train.coerce("epochs=3", "Trainer", error=Refused)


def test_from_dict_unknown_key_suggests_and_lists_fields():
    with pytest.raises(ConfigError) as info:
        Train.from_dict({"lrr": 0.1})
    msg = str(info.value)
    assert msg.startswith("Train.lrr = 0.1 is invalid: no such field.")
    assert "Did you mean 'lr'?" in msg
    assert "Fields: epochs, layers, lr, name, nested, optimizer, schedule, shuffle, warmup." in msg


def test_from_dict_unknown_key_without_close_match_has_no_suggestion():
    with pytest.raises(ConfigError) as info:
        Train.from_dict({"zzzzzz": 1})
    assert "Did you mean" not in str(info.value)
    assert "Fields: " in str(info.value)


def test_yaml_round_trip_is_equal_and_human_readable(tmp_path):
    cfg = Train(lr=1e-3, epochs=7, layers=(1, 2), name="run-1", nested=Inner(x=5))
    path = tmp_path / "sub" / "train.yaml"
    text = cfg.to_yaml(path)
    assert path.read_text(encoding="utf-8") == text
    assert Train.from_yaml(path) == cfg
    lines = text.splitlines()
    assert lines[0] == "lr: 0.001"  # field order kept, not sorted
    for line in ["epochs: 7", "optimizer: adamw", "name: run-1", "layers:", "- 1", "- 2"]:
        assert line in lines
    assert "nested:" in lines and "  x: 5" in lines
    assert "!!" not in text  # no python tags: plain YAML anyone can edit


def test_yaml_round_trip_of_tiny_float_and_none(tmp_path):
    cfg = Train(lr=1e-10, name=None)
    path = tmp_path / "c.yaml"
    cfg.to_yaml(path)
    assert "name: null" in path.read_text(encoding="utf-8")
    assert Train.from_yaml(path) == cfg


@pytest.mark.parametrize(("written", "value"), [("1e-3", 1e-3), ("5E+2", 500.0), ("2", 2.0)])
def test_from_yaml_reads_exponent_floats_written_by_hand(tmp_path, written, value):
    # PyYAML (YAML 1.1) alone would load "1e-3" as a string and reject it.
    path = tmp_path / "c.yaml"
    path.write_text(f"lr: {written}\n", encoding="utf-8")
    assert Train.from_yaml(path).lr == value


def test_from_yaml_applies_overrides_and_empty_file_gives_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("", encoding="utf-8")
    assert Train.from_yaml(path) == Train()
    assert Train.from_yaml(path, ["epochs=9"]) == Train(epochs=9)


def test_from_yaml_missing_file_errors_clearly(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        Train.from_yaml(missing)
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)
    assert info.value.owner == "Train"


def test_from_yaml_non_mapping_errors(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a mapping"):
        Train.from_yaml(path)


def test_from_yaml_validates_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"Train\.epochs = 0 is invalid: must be >= 1"):
        Train.from_yaml(path)


# -- overrides ---------------------------------------------------------------------------
def test_with_overrides_applies_yaml_values_and_nested_keys():
    base = Train(name="run")
    cfg = base.with_overrides(["lr=1e-3", "nested.x=5", "layers=[1, 2]", "name=null"])
    assert cfg.lr == 1e-3 and type(cfg.lr) is float
    assert cfg.nested == Inner(x=5)
    assert cfg.layers == (1, 2)
    assert cfg.name is None
    # a copy: the original is untouched, the rest is kept
    assert base.name == "run" and base.lr == 3e-3
    assert cfg.replace(lr=3e-3, nested=Inner(), layers=(4, 5), name="run") == base


def test_with_overrides_accepts_a_mapping():
    cfg = Train().with_overrides({"epochs": 7, "nested.scale": 2})
    assert cfg.epochs == 7
    assert cfg.nested.scale == 2.0


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (
            "lrr=1",
            r"Train\.lrr = 1 is invalid: no such field \(override 'lrr'\)\. Did you mean 'lr'\?",
        ),
        ("nested.xx=1", r"Inner\.xx = 1 is invalid: no such field .*Did you mean 'x'\?"),
        ("nested.zzz=1", r"Inner\.zzz = 1 is invalid: no such field .*Fields: scale, x\."),
        ("name.x=1", r"'name' is not a nested config"),
        ("epochs", r"expected key=value \(for example lr=1e-3\)"),
        ("=3", r"the key before '=' is empty"),
    ],
)
def test_with_overrides_rejects_bad_keys(override, match):
    with pytest.raises(ConfigError, match=match):
        Train().with_overrides([override])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epochs=0", "Train.epochs = 0 is invalid: must be >= 1"),
        ("lr=abc", "Train.lr = 'abc' is invalid: expected float"),
        ("optimizer=adam", "Train.optimizer = 'adam' is invalid: expected one of 'adamw', 'sgd'"),
        ("nested.x=-1", "Inner.x = -1 is invalid: must be >= 0"),
        ("layers=[1, -1]", "Train.layers = (1, -1) is invalid: must be >= 0"),
        ("shuffle=1", "Train.shuffle = 1 is invalid: expected bool"),
    ],
)
def test_with_overrides_revalidates_values(override, message):
    with pytest.raises(ConfigError) as info:
        Train().with_overrides([override])
    assert str(info.value) == message


def test_with_overrides_revalidates_cross_field_rules():
    cfg = Train(epochs=1)
    with pytest.raises(ConfigError, match="a warmup needs epochs >= 2"):
        cfg.with_overrides(["warmup=0.5"])


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["a=1"], {"a": 1}),
        (["b.c=[1, 2]"], {"b.c": [1, 2]}),
        (["s=hello"], {"s": "hello"}),
        (["s="], {"s": ""}),
        (["f=true", "g=false"], {"f": True, "g": False}),
        (["n=null"], {"n": None}),
        (["lr=1e-3", "w=-2E+2", "h=0.5"], {"lr": 1e-3, "w": -200.0, "h": 0.5}),
        (["eq=a=b"], {"eq": "a=b"}),
        ([" k = 2"], {"k": 2}),
        (["m={x: 1}"], {"m": {"x": 1}}),
        (["a=1", "a=2"], {"a": 2}),
        ([], {}),
    ],
)
def test_parse_overrides(items, expected):
    out = parse_overrides(items)
    assert out == expected
    assert [type(v) for v in out.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ("novalue", "expected key=value"),
        ("=3", "the key before '=' is empty"),
        ("x=[1, 2", "not a valid YAML value"),
    ],
)
def test_parse_overrides_errors(item, match):
    with pytest.raises(ConfigError, match=match):
        parse_overrides([item])


# -- regressions found in review -----------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Flags(Config):
    level: Literal[0, 1] = 0


@dataclasses.dataclass(frozen=True)
class _Inner(Config):
    x: int = param(0, ge=0)


@dataclasses.dataclass(frozen=True)
class _Outer(Config):
    inner: _Inner | None = None


def test_literal_of_ints_rejects_bools():
    with pytest.raises(ConfigError, match="level"):
        _Flags(level=False)
    assert _Flags(level=1).level == 1


def test_optional_nested_config_keeps_the_inner_message():
    with pytest.raises(ConfigError, match=r"_Inner\.x = -1 is invalid: must be >= 0"):
        _Outer.from_dict({"inner": {"x": -1}})
    assert _Outer.from_dict({"inner": {"x": 2}}).inner == _Inner(x=2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x=010", 10),
        ("x=0x1f", 31),
        ("x=0o17", 15),
        ("x=1:30", "1:30"),
        ("x=no", "no"),
        ("x=on", "on"),
        ("x=true", True),
        ("x=False", False),
        ("x=1_000", "1_000"),
        ("x=-7", -7),
    ],
)
def test_overrides_follow_yaml_1_2_for_ints_and_bools(text, expected):
    assert parse_overrides([text])["x"] == expected
