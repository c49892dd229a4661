"""The identity world (BENCHMARK_WORLD.md §6): small images of invented people for
MUFAC / MUCAC-style instance unlearning.

Each identity has a stable look (skin tone, hair colour and shape, eye colour and spacing,
face width, background hue). Each image shows one identity with a task label that does not
depend on who it is: an age band (0 to ``n_age_bands - 1``: forehead lines and grey hair)
and binary attributes (glasses, smile, hat, beard) for the multi-label variant. Every image
also gets nuisance: position, scale, brightness and pixel noise. A share of the age labels
is flipped (``label_noise``, like the noisy age labels of real face data), so a model must
memorise those images: what membership inference and unlearning are about.

Splits, by identity: ``train`` identities (``forget`` = every image of the chosen
identities, ``retain`` = the other train images), ``test`` identities (test accuracy) and
``unseen`` identities (never trained; the non-members of the membership attacks), all
disjoint. The same spec (seed included) gives the same tensors on every machine: every
draw comes from a ``torch.Generator`` seeded from the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import UnknownNameError
from unlearnkit.core.seeding import derive_seed
from unlearnkit.data.images import ClassificationData

#: the binary attributes of the multi-label variant (MUCAC-like), in label order
ATTRIBUTE_NAMES: tuple[str, ...] = ("glasses", "smile", "hat", "beard")
SPLITS: tuple[str, ...] = ("train", "forget", "retain", "test", "unseen")
#: the tasks: one age band per image, or the binary attributes (multi-label)
TASKS: tuple[str, ...] = ("age", "attributes")


@dataclass(frozen=True)
class IdentitySpec(Config):
    """What the identity world holds. Same spec ⇒ identical tensors.

    n_train_identities / n_test_identities / n_unseen_identities: disjoint sets of people.
    images_per_identity: images of each person. n_forget: train identities whose every
    image is forgotten. n_age_bands: classes of the task label. image_size: pixels per side
    (3 channels). label_noise: share of images whose age label is replaced by a random
    other band. noise_std: pixel noise (pixels are in [0, 1]).
    """

    seed: int = 0
    n_train_identities: int = param(40, ge=2)
    n_test_identities: int = param(10, ge=1)
    n_unseen_identities: int = param(10, ge=1)
    images_per_identity: int = param(12, ge=1)
    n_forget: int = param(4, ge=1)
    n_age_bands: int = param(4, ge=2, le=6)
    image_size: int = param(32, ge=16, le=128)
    label_noise: float = param(0.15, ge=0.0, lt=1.0)
    noise_std: float = param(0.06, ge=0.0)

    def validate(self) -> None:
        if self.n_forget >= self.n_train_identities:
            self.fail(
                "n_forget",
                self.n_forget,
                f"fewer than n_train_identities ({self.n_train_identities}): some train "
                "identities must remain",
            )


IDENTITY_PRESETS: dict[str, Callable[[], IdentitySpec]] = {
    "test": lambda: IdentitySpec(
        n_train_identities=12,
        n_test_identities=4,
        n_unseen_identities=4,
        images_per_identity=8,
        n_forget=2,
        image_size=16,
    ),
    "demo": lambda: IdentitySpec(),
}


def identity_preset(name: str) -> IdentitySpec:
    """The :class:`IdentitySpec` of a named preset (``test``, ``demo``)."""
    if name not in IDENTITY_PRESETS:
        raise UnknownNameError("identity world preset", name, IDENTITY_PRESETS)
    return IDENTITY_PRESETS[name]()


@dataclass(frozen=True)
class IdentityWorld:
    """A generated identity world.

    images: (N, 3, S, S) float32 in [0, 1]. age: (N,) long, the task label (noisy).
    attributes: (N, len(ATTRIBUTE_NAMES)) float32 0/1. identity: (N,) long, the person.
    true_age: (N,) long, the band the image shows (before label noise). splits: split
    name -> (M,) long image indices (``train``, ``forget``, ``retain``, ``test``,
    ``unseen``). identities: split -> identity ids.
    """

    spec: IdentitySpec
    images: torch.Tensor
    age: torch.Tensor
    attributes: torch.Tensor
    identity: torch.Tensor
    true_age: torch.Tensor
    splits: dict[str, torch.Tensor]
    identities: dict[str, list[int]] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return self.spec.n_age_bands

    def write(self, out_dir):
        """Write the world as an image folder with ``metadata.csv`` (the MUFAC-like layout
        :func:`~unlearnkit.data.images.load_image_folder` reads)."""
        from unlearnkit.data.images import write_image_folder

        return write_image_folder(
            {name: self.split(name) for name in ("retain", "forget", "test", "unseen")},
            out_dir,
            attribute_names=ATTRIBUTE_NAMES,
        )

    def split(self, name: str, task: str = "age") -> ClassificationData:
        """The images, labels and identities of one split. task: ``age`` (the labels are
        the age bands) or ``attributes`` (float (N, 4) 0/1 labels: the multi-label
        variant)."""
        if name not in self.splits:
            raise UnknownNameError("identity world split", name, self.splits)
        if task not in TASKS:
            raise UnknownNameError("identity task", task, TASKS)
        idx = self.splits[name]
        return ClassificationData(
            images=self.images[idx],
            labels=self.age[idx] if task == "age" else self.attributes[idx],
            identity=self.identity[idx],
            attributes=self.attributes[idx],
            name=name,
        )


def _gen(spec: IdentitySpec, *keys: object) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(spec.seed, "identities", *keys))


def _uniform(g: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def generate_identities(spec: IdentitySpec) -> IdentityWorld:
    """Draw the identity world of ``spec`` (deterministic)."""
    n_ids = spec.n_train_identities + spec.n_test_identities + spec.n_unseen_identities
    g = _gen(spec, "looks")
    looks = {
        "skin": torch.stack(
            [
                _uniform(g, n_ids, 0.45, 0.95),
                _uniform(g, n_ids, 0.3, 0.8),
                _uniform(g, n_ids, 0.2, 0.65),
            ],
            1,
        ),
        "hair": torch.rand(n_ids, 3, generator=g) * 0.6,
        "hair_height": _uniform(g, n_ids, 0.08, 0.3),
        "eyes": torch.rand(n_ids, 3, generator=g),
        "eye_gap": _uniform(g, n_ids, 0.12, 0.26),
        "face_width": _uniform(g, n_ids, 0.26, 0.4),
        "background": torch.rand(n_ids, 3, generator=g),
    }
    per = spec.images_per_identity
    n = n_ids * per
    identity = torch.arange(n_ids).repeat_interleave(per)
    g = _gen(spec, "images")
    true_age = torch.randint(0, spec.n_age_bands, (n,), generator=g)
    attributes = (torch.rand(n, len(ATTRIBUTE_NAMES), generator=g) < 0.4).float()
    nuisance = {
        "dx": _uniform(g, n, -0.08, 0.08),
        "dy": _uniform(g, n, -0.08, 0.08),
        "scale": _uniform(g, n, 0.85, 1.15),
        "brightness": _uniform(g, n, 0.8, 1.2),
    }
    noise = torch.randn(n, 3, spec.image_size, spec.image_size, generator=g) * spec.noise_std
    flip = torch.rand(n, generator=g) < spec.label_noise
    shift = torch.randint(1, spec.n_age_bands, (n,), generator=g)
    age = torch.where(flip, (true_age + shift) % spec.n_age_bands, true_age)
    images = _render(spec, looks, identity, true_age, attributes, nuisance)
    images = (images * nuisance["brightness"].view(-1, 1, 1, 1) + noise).clamp(0.0, 1.0)

    order = torch.randperm(n_ids, generator=_gen(spec, "splits")).tolist()
    train_ids = sorted(order[: spec.n_train_identities])
    rest = order[spec.n_train_identities :]
    test_ids = sorted(rest[: spec.n_test_identities])
    unseen_ids = sorted(rest[spec.n_test_identities :])
    picked = torch.randperm(len(train_ids), generator=_gen(spec, "forget"))[: spec.n_forget]
    forget_ids = sorted(train_ids[i] for i in picked.tolist())
    retain_ids = [i for i in train_ids if i not in set(forget_ids)]
    ids = {
        "train": train_ids,
        "forget": forget_ids,
        "retain": retain_ids,
        "test": test_ids,
        "unseen": unseen_ids,
    }

    def images_of(people: list[int]) -> torch.Tensor:
        return torch.nonzero(torch.isin(identity, torch.tensor(people))).flatten()

    return IdentityWorld(
        spec=spec,
        images=images.float(),
        age=age,
        attributes=attributes,
        identity=identity,
        true_age=true_age,
        splits={k: images_of(v) for k, v in ids.items()},
        identities=ids,
    )


def _render(spec, looks, identity, age, attributes, nuisance) -> torch.Tensor:
    """Draw every image at once: background, hair, face, eyes, age cues, attributes."""
    s, n = spec.image_size, identity.shape[0]
    coords = (torch.arange(s, dtype=torch.float32) + 0.5) / s - 0.5  # [-0.5, 0.5)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    scale = nuisance["scale"].view(n, 1, 1)
    x = (xx.unsqueeze(0) - nuisance["dx"].view(n, 1, 1)) / scale
    y = (yy.unsqueeze(0) - nuisance["dy"].view(n, 1, 1)) / scale

    def look(key: str) -> torch.Tensor:
        return looks[key][identity]

    def paint(img: torch.Tensor, mask: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1).float()
        return img * (1 - m) + colour.view(n, 3, 1, 1) * m

    img = look("background").view(n, 3, 1, 1).expand(n, 3, s, s).clone()
    fw = look("face_width").view(n, 1, 1)
    face = (x / fw) ** 2 + ((y - 0.02) / 0.36) ** 2 <= 1.0
    # hair: a cap above the face, greyer with age
    grey = (age.float() / max(spec.n_age_bands - 1, 1)).view(n, 1)
    hair_colour = look("hair") * (1 - grey) + 0.85 * grey
    hh = look("hair_height").view(n, 1, 1)
    hair = ((x / (fw + 0.04)) ** 2 + ((y + 0.22) / (0.12 + hh)) ** 2 <= 1.0) & (y < -0.18)
    img = paint(img, hair, hair_colour)
    img = paint(img, face, look("skin"))
    # eyes
    gap = look("eye_gap").view(n, 1, 1) / 2
    for side in (-1.0, 1.0):
        eye = ((x - side * gap) ** 2 + (y + 0.06) ** 2) <= 0.045**2
        img = paint(img, eye, look("eyes"))
    # age cues: one forehead line per band
    skin_dark = look("skin") * 0.55
    for k in range(spec.n_age_bands - 1):
        line = (y - (-0.2 + 0.045 * k)).abs() <= 0.012
        line = line & (x.abs() <= fw * 0.6) & (age.view(n, 1, 1) > k)
        img = paint(img, line, skin_dark)
    # attributes
    a = attributes.bool()
    dark = torch.zeros(n, 3)
    glasses = (((y + 0.06).abs() <= 0.015) & (x.abs() <= gap + 0.07)) & a[:, 0].view(n, 1, 1)
    img = paint(img, glasses, dark)
    mouth_curve = 0.18 + torch.where(a[:, 1], 0.6, 0.0).view(n, 1, 1) * x**2
    mouth = ((y - mouth_curve).abs() <= 0.02) & (x.abs() <= 0.1)
    img = paint(img, mouth, torch.tensor([0.55, 0.1, 0.1]).expand(n, 3))
    hat = (y < -0.3) & (x.abs() <= fw + 0.05) & a[:, 2].view(n, 1, 1)
    img = paint(img, hat, torch.tensor([0.15, 0.2, 0.6]).expand(n, 3))
    beard = face & (y > 0.22) & a[:, 3].view(n, 1, 1)
    img = paint(img, beard, look("hair") * 0.7)
    return img


def chance_accuracy(spec: IdentitySpec) -> float:
    """The accuracy of guessing the age band at random."""
    return 1.0 / spec.n_age_bands


__all__ = [
    "ATTRIBUTE_NAMES",
    "IDENTITY_PRESETS",
    "SPLITS",
    "ClassificationData",
    "IdentitySpec",
    "IdentityWorld",
    "chance_accuracy",
    "generate_identities",
    "identity_preset",
]
