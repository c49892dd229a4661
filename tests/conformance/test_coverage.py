"""The contract every registered method keeps, whatever its family, and the check that the
conformance suites cover the registry: each family's registered methods are exactly the
union of the methods its conformance module's tests are parametrised over, so a method or
a family registered without conformance tests fails here."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.conformance import (
    test_classifier_methods,
    test_methods,
    test_recommender_methods,
)
from unlearnkit.methods import METHODS
from unlearnkit.methods.api import method_config, methods_of, register_builtin_methods
from unlearnkit.methods.base import EditMethod

register_builtin_methods()
EVERY = METHODS.names()
#: one conformance module per family, each naming its family in ``FAMILY``
SUITES: tuple[ModuleType, ...] = (test_methods, test_classifier_methods, test_recommender_methods)


def covered(module: ModuleType) -> set[str]:
    """The method names the tests of ``module`` are parametrised over (``name``)."""
    names: set[str] = set()
    for attr in vars(module).values():
        for mark in getattr(attr, "pytestmark", []):
            if mark.name == "parametrize" and mark.args[0] == "name":
                names.update(mark.args[1])
    return names


def test_every_family_has_one_conformance_module():
    families = {METHODS.entry(n).meta.get("family", "lm") for n in EVERY}
    suites = [m.FAMILY for m in SUITES]
    assert sorted(suites) == sorted(families), "add a conformance module for the new family"


@pytest.mark.parametrize("suite", SUITES, ids=lambda m: m.FAMILY)
def test_a_familys_methods_are_what_its_conformance_tests_cover(suite):
    registered = set(methods_of(suite.FAMILY))
    assert registered, f"no method is registered for family {suite.FAMILY!r}"
    assert covered(suite) == registered, (
        f"{suite.__name__} covers {sorted(covered(suite))}, the registry's "
        f"{suite.FAMILY} methods are {sorted(registered)}"
    )


def test_each_method_is_in_one_family():
    assert sorted(n for m in SUITES for n in methods_of(m.FAMILY)) == EVERY


@pytest.mark.parametrize("name", EVERY)
def test_config_defaults_and_yaml_round_trip(name, tmp_path):
    entry = METHODS.entry(name)
    assert entry.meta.get("paper"), f"{name} must cite its paper"
    assert entry.description
    assert entry.obj.__doc__
    cfg = method_config(name)
    path = tmp_path / f"{name}.yaml"
    cfg.to_yaml(path)
    assert type(cfg).from_yaml(path) == cfg
    if issubclass(METHODS.get(name), EditMethod):
        assert method_config(name, seed=5).seed == 5
    else:
        assert method_config(name, lr=0.123).lr == 0.123
