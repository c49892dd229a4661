"""The small CNN and ResNet: shapes, features per block, seeded builds, save / load, and
that both learn the test identity world."""

from __future__ import annotations

import pytest
import torch

from unlearnkit.core.errors import ConfigError, UnlearnkitError
from unlearnkit.data.world.identities import generate_identities, identity_preset
from unlearnkit.models.adapters.classifier import ClassifierAdapter
from unlearnkit.models.classifier_training import ClassifierTrainConfig, train_classifier
from unlearnkit.models.vision import (
    ClassifierConfig,
    build_classifier,
    classifier_preset,
    is_classifier_dir,
    load_classifier,
)


@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_shapes_features_and_round_trip(arch, tmp_path) -> None:
    model = build_classifier(classifier_preset(f"{arch}-test"), seed=3)
    again = build_classifier(classifier_preset(f"{arch}-test"), seed=3)
    pairs = zip(model.state_dict().values(), again.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    model.eval()  # a forward pass in train mode would move the batch-norm statistics
    x = torch.rand(5, 3, 16, 16)
    assert model(x).shape == (5, 4)
    widths = [model.features(x, layer).shape[1] for layer in range(len(model.blocks))]
    assert widths == [8 * 2**i for i in range(len(model.blocks))]
    with pytest.raises(ValueError, match="layer"):
        model.features(x, 9)
    again = build_classifier(classifier_preset(f"{arch}-test"), seed=3)
    assert all(
        torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True)
    )
    adapter = ClassifierAdapter(model.eval())
    adapter.save(tmp_path / "m")
    assert is_classifier_dir(tmp_path / "m") and not is_classifier_dir(tmp_path)
    loaded = ClassifierAdapter.from_pretrained(tmp_path / "m")
    assert torch.equal(loaded.logits(x), adapter.logits(x))
    assert loaded.fingerprint() == adapter.fingerprint()


def test_load_errors_and_config_checks(tmp_path) -> None:
    with pytest.raises(UnlearnkitError, match=r"config\.json is missing"):
        load_classifier(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "other"}')
    with pytest.raises(UnlearnkitError, match="not an unlearnkit classifier"):
        load_classifier(tmp_path)
    with pytest.raises(ConfigError, match="n_classes"):
        ClassifierConfig(n_classes=1)
    assert ClassifierConfig(n_classes=1, multilabel=True).to_dict()["multilabel"] is True
    assert "multilabel" not in ClassifierConfig().to_dict()


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_both_architectures_learn_the_identity_world(arch) -> None:
    world = generate_identities(identity_preset("test"))
    train, test = world.split("train"), world.split("test")
    model = build_classifier(classifier_preset(arch), seed=0)
    adapter = ClassifierAdapter(model)
    before = adapter.accuracy(train.images, train.labels)
    train_classifier(model, train.images, train.labels, ClassifierTrainConfig(epochs=40))
    assert adapter.accuracy(train.images, train.labels) > max(before, 0.9)
    assert adapter.accuracy(test.images, test.labels) > 0.3  # above chance (0.25)
