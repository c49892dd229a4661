"""Registry: decorator registration, duplicates, unknown names with suggestions, metadata."""

import pytest

from unlearnkit.core.errors import RegistryError, UnknownNameError, UnlearnkitError
from unlearnkit.core.registry import Registry


def _methods() -> Registry:
    reg: Registry = Registry("method")

    @reg.register("npo", paper="arXiv:2404.05868")
    class NPO:
        """Negative preference optimisation.

        Longer explanation that must not leak into the description.
        """

    @reg.register("rmu", description="Representation misdirection")
    class RMU:
        """Docstring that the explicit description overrides."""

    @reg.register("ga")
    def gradient_ascent() -> None:
        pass

    return reg


def test_register_decorator_returns_the_object_unchanged():
    reg: Registry = Registry("metric")

    class Thing:
        pass

    def fn() -> int:
        return 7

    assert reg.register("thing")(Thing) is Thing
    assert reg.register("fn")(fn) is fn
    assert reg.get("thing") is Thing
    assert reg.get("fn")() == 7


def test_add_is_the_non_decorator_form():
    reg: Registry = Registry("attack")
    obj = object()
    reg.add("loss", obj, paper="x")
    assert reg.get("loss") is obj
    assert reg.entry("loss").meta == {"paper": "x"}


def test_duplicate_name_is_rejected_naming_both_objects():
    reg: Registry = Registry("method")

    @reg.register("npo")
    class First:
        pass

    class Second:
        pass

    with pytest.raises(RegistryError) as info:
        reg.register("npo")(Second)
    msg = str(info.value)
    assert "'npo'" in msg
    assert "First" in msg and "Second" in msg
    assert "method" in msg
    # the first registration is kept
    assert reg.get("npo") is First
    assert len(reg) == 1


@pytest.mark.parametrize("bad", ["", "   ", None, 3])
def test_register_rejects_empty_or_non_string_names(bad):
    reg: Registry = Registry("method")
    with pytest.raises(RegistryError, match="non-empty strings"):
        reg.register(bad)


@pytest.mark.parametrize("typo", ["nop", "npoo"])
def test_unknown_name_suggests_the_close_one_and_lists_known(typo):
    reg = _methods()
    with pytest.raises(UnknownNameError) as info:
        reg.get(typo)
    err = info.value
    msg = str(err)
    assert f"unknown method {typo!r}" in msg
    assert "Did you mean 'npo'" in msg
    assert "Known: ga, npo, rmu." in msg
    assert err.name == typo and err.kind == "method"
    assert err.known == ["ga", "npo", "rmu"]


def test_unknown_name_without_close_match_has_no_suggestion():
    reg = _methods()
    with pytest.raises(UnknownNameError) as info:
        reg.get("zzzzzz")
    msg = str(info.value)
    assert "Did you mean" not in msg
    assert "Known: ga, npo, rmu." in msg


def test_unknown_name_on_empty_registry_says_none_registered():
    with pytest.raises(UnknownNameError, match=r"\(none registered\)"):
        Registry("metric").get("anything")


def test_unknown_name_error_is_a_key_error_with_readable_str():
    reg = _methods()
    with pytest.raises(KeyError) as info:
        reg.entry("nop")
    assert isinstance(info.value, UnlearnkitError)
    # KeyError.__str__ would wrap the message in quotes; ours does not
    assert str(info.value).startswith("unknown method 'nop'.")


@pytest.mark.parametrize(
    ("name", "meta", "description"),
    [
        ("npo", {"paper": "arXiv:2404.05868"}, "Negative preference optimisation."),
        (
            "rmu",
            {"description": "Representation misdirection"},
            "Representation misdirection",
        ),
        ("ga", {}, ""),
    ],
)
def test_entry_metadata_and_description(name, meta, description):
    entry = _methods().entry(name)
    assert entry.name == name
    assert entry.meta == meta
    assert entry.description == description


def test_contains_len_and_sorted_names():
    reg = _methods()
    assert "npo" in reg
    assert "nop" not in reg
    assert 3 not in reg
    assert len(reg) == 3
    assert reg.names() == ["ga", "npo", "rmu"]
    assert list(reg) == ["ga", "npo", "rmu"]
    assert [e.name for e in reg.entries()] == ["ga", "npo", "rmu"]
    assert repr(reg) == "Registry('method', ['ga', 'npo', 'rmu'])"
