"""Image-classification data: the :class:`ClassificationData` tensors every classifier
component reads, and the image-folder layout of the face benchmarks (MUFAC, MUCAC): image
files plus one CSV of metadata.

``metadata.csv`` columns: ``path`` (relative to the folder), ``label`` (an integer class,
or one of ``label_names``), ``identity`` (who is in the picture), ``split`` (``retain``,
``forget``, ``test``, ``unseen``, or any names you use), and optionally one 0/1 column per
binary attribute (the multi-label variant). :func:`load_image_folder` checks everything a
benchmark relies on and names the row and the column of any problem: a missing file, an
image that cannot be read or has another size, an unknown label, a missing column, an
identity in two splits (forgetting a person requires all of their images in one place).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from unlearnkit.core.errors import DataValidationError

REQUIRED_COLUMNS = ("path", "label", "identity", "split")


@dataclass(frozen=True)
class ClassificationData:
    """One split of image-classification data: (N, C, H, W) float images in [0, 1], (N,)
    long labels, (N,) long identities, optional (N, A) 0/1 attributes."""

    images: torch.Tensor
    labels: torch.Tensor
    identity: torch.Tensor
    attributes: torch.Tensor | None = None
    name: str = ""

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def fingerprint(self) -> str:
        """A content hash of the tensors (cache keys)."""
        h = hashlib.sha256()
        for t in (self.images, self.labels, self.identity):
            h.update(t.contiguous().numpy().tobytes())
        return h.hexdigest()[:16]


def write_image_folder(
    splits: Mapping[str, ClassificationData],
    out_dir: str | Path,
    *,
    attribute_names: Sequence[str] = (),
) -> Path:
    """Write ``splits`` as PNG files under ``out_dir/images/`` and ``metadata.csv``."""
    from PIL import Image

    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for split, data in splits.items():
        pixels = (data.images.clamp(0, 1) * 255).round().to(torch.uint8)
        for i in range(len(data)):
            rel = f"images/{split}_{i:05d}.png"
            Image.fromarray(pixels[i].permute(1, 2, 0).numpy()).save(out / rel)
            row = {
                "path": rel,
                "label": int(data.labels[i]),
                "identity": int(data.identity[i]),
                "split": split,
            }
            if data.attributes is not None:
                for j, name in enumerate(attribute_names):
                    row[name] = int(data.attributes[i, j])
            rows.append(row)
    fields = [*REQUIRED_COLUMNS, *attribute_names]
    with (out / "metadata.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return out


def load_image_folder(
    root: str | Path,
    *,
    csv_name: str = "metadata.csv",
    label_names: Sequence[str] | None = None,
    n_classes: int | None = None,
    attribute_columns: Sequence[str] = (),
    image_size: int | None = None,
) -> dict[str, ClassificationData]:
    """Every split of an image folder with a metadata CSV (see the module doc).

    label_names: the class names when labels are written as names (class k = position k);
    otherwise labels are integers in ``[0, n_classes)`` (``n_classes`` default: the largest
    label + 1). attribute_columns: 0/1 columns loaded as ``attributes``. image_size: resize
    every image to this square size; without it every image must have the first one's size.
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(root)
    table = folder / csv_name
    if not table.is_file():
        raise DataValidationError(f"no {csv_name} in the image folder", file=str(folder))
    with table.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        rows = list(reader)
    missing = [c for c in (*REQUIRED_COLUMNS, *attribute_columns) if c not in columns]
    if missing:
        raise DataValidationError(
            f"missing column(s) {missing}; the CSV has {columns} (needed: path, label, "
            "identity, split, and any attribute columns asked for)",
            file=str(table),
        )
    if not rows:
        raise DataValidationError("the CSV has no rows (no images)", file=str(table))

    def fail(i: int, column: str, message: str) -> DataValidationError:
        # rows count from 0 after the header (line i + 2 of the file)
        return DataValidationError(
            f"{message} (line {i + 2} of the file)", file=str(table), record=i, field=column
        )

    names = {n: k for k, n in enumerate(label_names)} if label_names is not None else None
    labels: list[int] = []
    for i, row in enumerate(rows):
        raw = (row["label"] or "").strip()
        if names is not None:
            if raw not in names:
                raise fail(i, "label", f"unknown label {raw!r}; the labels are {list(names)}")
            labels.append(names[raw])
            continue
        try:
            value = int(raw)
        except ValueError:
            raise fail(
                i, "label", f"label {raw!r} is not an integer class (or pass label_names)"
            ) from None
        if value < 0 or (n_classes is not None and value >= n_classes):
            top = f"{n_classes - 1}" if n_classes is not None else "n_classes - 1"
            raise fail(i, "label", f"unknown label {value}: classes are 0..{top}")
        labels.append(value)

    identity_split: dict[str, tuple[str, int]] = {}
    identities: dict[str, int] = {}
    for i, row in enumerate(rows):
        who, split = (row["identity"] or "").strip(), (row["split"] or "").strip()
        if not who:
            raise fail(i, "identity", "empty identity")
        if not split:
            raise fail(i, "split", "empty split")
        seen = identity_split.setdefault(who, (split, i))
        if seen[0] != split:
            raise fail(
                i,
                "identity",
                f"identity {who!r} is in split {split!r} here and in {seen[0]!r} on line "
                f"{seen[1] + 2}: every image of a person must be in one split",
            )
        identities.setdefault(who, len(identities))

    images = []
    size: tuple[int, int] | None = None
    for i, row in enumerate(rows):
        path = folder / (row["path"] or "").strip()
        if not path.is_file():
            raise fail(i, "path", f"no such image file: {path}")
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                if image_size is not None:
                    im = im.resize((image_size, image_size))
                array = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError) as exc:
            raise fail(i, "path", f"cannot read the image {path}: {exc}") from None
        if size is None:
            size = array.shape[:2]
        elif array.shape[:2] != size:
            raise fail(
                i,
                "path",
                f"image {path} is {array.shape[1]}x{array.shape[0]}, the first image is "
                f"{size[1]}x{size[0]}; pass image_size= to resize them all",
            )
        images.append(torch.from_numpy(array.copy()).permute(2, 0, 1))

    attrs = None
    if attribute_columns:
        values = []
        for i, row in enumerate(rows):
            vals = []
            for c in attribute_columns:
                raw = (row[c] or "").strip()
                if raw not in ("0", "1"):
                    raise fail(i, c, f"attribute {c!r} must be 0 or 1, got {raw!r}")
                vals.append(float(raw))
            values.append(vals)
        attrs = torch.tensor(values)
    all_images = torch.stack(images).float() / 255.0
    all_labels = torch.tensor(labels, dtype=torch.long)
    all_ids = torch.tensor([identities[r["identity"].strip()] for r in rows], dtype=torch.long)
    out: dict[str, ClassificationData] = {}
    for split in dict.fromkeys(r["split"].strip() for r in rows):
        idx = torch.tensor([i for i, r in enumerate(rows) if r["split"].strip() == split])
        out[split] = ClassificationData(
            images=all_images[idx],
            labels=all_labels[idx],
            identity=all_ids[idx],
            attributes=attrs[idx] if attrs is not None else None,
            name=split,
        )
    return out
