"""The identity world (determinism, splits by identity, labels independent of identity)
and the image-folder loader (round trip and every validation error)."""

from __future__ import annotations

import csv

import pytest
import torch

from unlearnkit.core.errors import ConfigError, DataValidationError
from unlearnkit.data.images import load_image_folder
from unlearnkit.data.world.identities import (
    IdentitySpec,
    generate_identities,
    identity_preset,
)


@pytest.fixture(scope="module")
def world():
    return generate_identities(identity_preset("test"))


def test_same_spec_same_tensors_other_seed_other_world(world) -> None:
    again = generate_identities(identity_preset("test"))
    assert torch.equal(again.images, world.images) and torch.equal(again.age, world.age)
    other = generate_identities(identity_preset("test").replace(seed=1))
    assert not torch.equal(other.images, world.images)


def test_splits_partition_people(world) -> None:
    ids = world.identities
    assert set(ids["forget"]) | set(ids["retain"]) == set(ids["train"])
    assert not set(ids["forget"]) & set(ids["retain"])
    for a, b in [("train", "test"), ("train", "unseen"), ("test", "unseen")]:
        assert not set(ids[a]) & set(ids[b])
    # forget holds every image of its people, and nothing else
    forget = world.split("forget")
    assert set(forget.identity.tolist()) == set(ids["forget"])
    assert len(forget) == len(ids["forget"]) * world.spec.images_per_identity
    assert len(world.split("train")) == len(forget) + len(world.split("retain"))


def test_images_and_labels(world) -> None:
    s = world.spec
    assert world.images.shape == (len(world.age), 3, s.image_size, s.image_size)
    assert float(world.images.min()) >= 0.0 and float(world.images.max()) <= 1.0
    assert int(world.age.max()) < s.n_age_bands
    # the task does not depend on the person: each person shows several age bands
    per_person = [len(set(world.true_age[world.identity == i].tolist())) for i in range(10)]
    assert max(per_person) > 1
    # label noise flips about label_noise of the labels
    flipped = float((world.age != world.true_age).float().mean())
    assert 0.02 < flipped < 0.4


def test_spec_validation() -> None:
    with pytest.raises(ConfigError, match="n_forget"):
        IdentitySpec(n_train_identities=4, n_forget=4)


def test_image_folder_round_trip(world, tmp_path) -> None:
    root = world.write(tmp_path / "faces")
    splits = load_image_folder(root, attribute_columns=("glasses", "smile", "hat", "beard"))
    assert set(splits) == {"retain", "forget", "test", "unseen"}
    for name, data in splits.items():
        orig = world.split(name)
        assert torch.equal(data.labels, orig.labels)
        # PNG keeps 8 bits per channel
        assert float((data.images - orig.images).abs().max()) <= 0.5 / 255 + 1e-6
        assert torch.equal(data.attributes, orig.attributes)
    # identities are renumbered but people stay together
    assert len(set(splits["forget"].identity.tolist())) == len(world.identities["forget"])


def _rewrite(root, change) -> None:
    path = root / "metadata.csv"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    rows, fields = change(rows, fields)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r, f: ([*r[:1], {**r[1], "path": "images/nope.png"}, *r[2:]], f), "no such image"),
        (lambda r, f: ([{**r[0], "label": "9"}, *r[1:]], f), "unknown label 9"),
        (lambda r, f: ([{**r[0], "label": "old"}, *r[1:]], f), "not an integer class"),
        (
            lambda r, f: (
                [{**x, "identity": r[0]["identity"]} if x["split"] == "test" else x for x in r],
                f,
            ),
            "every image of a person must be in one split",
        ),
        (
            lambda r, f: (
                [{k: v for k, v in x.items() if k != "identity"} for x in r],
                [c for c in f if c != "identity"],
            ),
            "missing column",
        ),
        (lambda r, f: ([], f), "no rows"),
    ],
)
def test_image_folder_errors_name_line_and_column(world, tmp_path, change, message) -> None:
    root = world.write(tmp_path / "faces")
    _rewrite(root, change)
    with pytest.raises(DataValidationError, match=message):
        load_image_folder(root, n_classes=world.spec.n_age_bands)


def test_unreadable_and_odd_sized_images(world, tmp_path) -> None:
    from PIL import Image

    root = world.write(tmp_path / "faces")
    (root / "images" / "retain_00000.png").write_bytes(b"not a png")
    with pytest.raises(DataValidationError, match="cannot read the image"):
        load_image_folder(root)
    root = world.write(tmp_path / "faces2")
    Image.new("RGB", (20, 20)).save(root / "images" / "retain_00001.png")
    with pytest.raises(DataValidationError, match="pass image_size"):
        load_image_folder(root)
    data = load_image_folder(root, image_size=16)
    assert data["retain"].images.shape[-1] == 16


def test_label_names(world, tmp_path) -> None:
    root = world.write(tmp_path / "faces")
    names = ["child", "young", "adult", "old"]
    _rewrite(root, lambda r, f: ([{**x, "label": names[int(x["label"])]} for x in r], f))
    data = load_image_folder(root, label_names=names)
    assert torch.equal(data["forget"].labels, world.split("forget").labels)
    with pytest.raises(DataValidationError, match="unknown label"):
        load_image_folder(root, label_names=names[:2])


def test_attribute_task_labels(world) -> None:
    data = world.split("forget", "attributes")
    assert data.labels.shape == (len(data), 4) and data.labels.dtype == torch.float32
    assert torch.equal(data.labels, world.attributes[world.splits["forget"]])
    with pytest.raises(Exception, match="identity task"):
        world.split("forget", "colour")
