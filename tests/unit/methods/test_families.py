"""Every method declares its model family; ``unlearn`` (the LM entry point) refuses another
family's method, naming its family, the entry point it needs and the LM methods."""

from __future__ import annotations

import importlib

import pytest

from unlearnkit.core.errors import ConfigError, UnknownNameError
from unlearnkit.methods import METHODS, unlearn
from unlearnkit.methods.api import (
    ENTRY_POINTS,
    method_family,
    methods_of,
    register_builtin_methods,
    require_family,
)

register_builtin_methods()
FAMILIES = sorted({method_family(name) for name in METHODS.names()})


def test_each_method_declares_one_family_that_has_an_entry_point():
    assert FAMILIES == ["classifier", "lm", "recommender"]
    for name in METHODS.names():
        cls = METHODS.get(name)
        assert isinstance(cls.family, str), name
        # the registration's metadata, where it names a family, says the same
        assert METHODS.entry(name).meta.get("family", cls.family) == cls.family, name
    for family in FAMILIES:
        module, _, function = ENTRY_POINTS[family].rpartition(".")
        assert callable(getattr(importlib.import_module(module), function)), family


def test_methods_of_splits_the_registry_by_family():
    split = {family: methods_of(family) for family in FAMILIES}
    assert sorted(n for names in split.values() for n in names) == METHODS.names()
    assert {"npo", "rmu", "rocr", "icu"} <= set(split["lm"])  # gradient, editing, guards
    assert "salun" in split["classifier"] and "reverse_bpr" in split["recommender"]
    assert methods_of("vision") == []


@pytest.mark.parametrize(
    ("method", "family", "entry", "close"),
    [
        ("salun", "classifier", "unlearn_classifier", None),
        ("rec_grad_ascent", "recommender", "unlearn_recommender", "'grad_ascent'"),
    ],
)
def test_unlearn_refuses_another_familys_method_before_loading_anything(
    tmp_path, method, family, entry, close
):
    missing = tmp_path / "no-model-here"  # the family is checked before the model is read
    with pytest.raises(ConfigError) as caught:
        unlearn(missing, [("q", "a")], method=method)
    message = str(caught.value)
    assert caught.value.field == "method" and caught.value.value == method
    assert f"belongs to the {family} family" in message and f"{entry}()" in message
    assert f"--family {family}" in message
    assert "lm methods: " in message and "npo" in message
    if close is not None:
        assert f"Did you mean {close}" in message


def test_a_misspelt_lm_method_is_an_unknown_name_with_did_you_mean():
    with pytest.raises(UnknownNameError, match=r"unknown lm method 'npoo'\. Did you mean 'npo'"):
        unlearn("no-model-here", [("q", "a")], method="npoo")


def test_require_family_returns_the_class_of_a_method_of_the_family():
    assert require_family("npo", "lm", "unlearn") is METHODS.get("npo")
    assert require_family("salun", "classifier", "unlearn_classifier") is METHODS.get("salun")
    with pytest.raises(ConfigError, match="'npo' belongs to the lm family"):
        require_family("npo", "classifier", "unlearn_classifier")
