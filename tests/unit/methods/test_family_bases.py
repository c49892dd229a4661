"""What the classifier and recommender method bases share: how a method takes its config."""

from __future__ import annotations

import pytest

from unlearnkit.methods.base import UnlearnConfig
from unlearnkit.methods.classifier.finetune import Finetune
from unlearnkit.methods.recommender.finetune import RecFinetune


@pytest.mark.parametrize("cls", [Finetune, RecFinetune])
def test_a_method_takes_its_config_a_dict_or_nothing(cls) -> None:
    assert cls().config == cls.config_class()
    given = cls.config_class(seed=3)
    assert cls(given).config is given
    assert cls({"seed": 3, "epochs": 2}).config == cls.config_class(seed=3, epochs=2)
    with pytest.raises(TypeError, match=f"{cls.__name__} takes a {cls.config_class.__name__}"):
        cls(UnlearnConfig())
