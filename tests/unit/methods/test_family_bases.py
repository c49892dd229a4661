"""What the classifier and recommender method bases share: how a method takes its config,
and the optimiser loop."""

from __future__ import annotations

import pytest
import torch

from unlearnkit.methods import UnlearningError
from unlearnkit.methods.base import UnlearnConfig
from unlearnkit.methods.classifier import base as classifier_base
from unlearnkit.methods.classifier.finetune import Finetune
from unlearnkit.methods.optim import train_steps
from unlearnkit.methods.recommender import base as recommender_base
from unlearnkit.methods.recommender.finetune import RecFinetune


@pytest.mark.parametrize("cls", [Finetune, RecFinetune])
def test_a_method_takes_its_config_a_dict_or_nothing(cls) -> None:
    assert cls().config == cls.config_class()
    given = cls.config_class(seed=3)
    assert cls(given).config is given
    assert cls({"seed": 3, "epochs": 2}).config == cls.config_class(seed=3, epochs=2)
    with pytest.raises(TypeError, match=f"{cls.__name__} takes a {cls.config_class.__name__}"):
        cls(UnlearnConfig())


def _regression() -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1), torch.randn(8, 3), torch.randn(8, 1)


def test_the_shared_loop_steps_masks_and_leaves_eval_mode() -> None:
    """Both families' bases run the one loop of ``methods.optim``."""
    assert classifier_base.train_steps is train_steps and recommender_base.train_loop is train_steps
    model, x, y = _regression()
    before = model.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    mask = {"weight": torch.tensor([[1.0, 0.0, 1.0]])}
    n = train_steps(model, opt, range(3), lambda _: ((model(x) - y) ** 2).mean(), mask=mask)
    assert n == 3 and not model.training
    assert model.weight[0, 1] == before[0, 1]  # masked: never moved
    assert model.weight[0, 0] != before[0, 0] and model.weight[0, 2] != before[0, 2]


def test_the_shared_loop_stops_on_a_non_finite_loss_before_stepping() -> None:
    model, x, y = _regression()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = iter([((model(x) - y) ** 2).mean(), torch.tensor(float("nan"))])
    with pytest.raises(UnlearningError, match="the loss became nan at step 1; lower lr"):
        train_steps(model, opt, range(5), lambda _: next(losses))
