"""The offline training data: scikit-learn's real handwritten digits.

scikit-learn ships 1,797 scanned digits (8x8 pixels, 17 grey levels) inside its wheel, so the
book can train real models with no download. We upsample them to a chosen size and scale them
to [-1, 1], the range diffusion models are trained in. The data is offered the way learners load
their own images, as a 🤗 ``datasets.Dataset`` with an ``image`` column, and as plain tensors for
code that wants to skip the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from datasets import ClassLabel, Dataset, Features, Image
from PIL import Image as PILImage
from sklearn.datasets import load_digits

DEFAULT_SIZE = 16
SPLIT_SEED = 0
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class DigitsTensors:
    """Images in [-1, 1] with shape (N, 1, size, size) and their integer labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor


def _check_size(size: int) -> None:
    if not isinstance(size, int) or not 8 <= size <= 64:
        raise ValueError(f"size must be an integer from 8 to 64 pixels, got {size!r}")


def _split_indices(n: int, split: str) -> np.ndarray:
    """A fixed, seeded train/test split, so the metric always compares with unseen digits."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_test = int(round(n * TEST_FRACTION))
    if split == "test":
        return np.sort(order[:n_test])
    if split == "train":
        return np.sort(order[n_test:])
    return np.arange(n)


def digit_pil_images(size: int = DEFAULT_SIZE, split: str = "all") -> tuple[list, np.ndarray]:
    """Return the digits as greyscale PIL images of ``size`` pixels, and their labels.

    Bicubic upsampling of the 8x8 scans gives smooth strokes, closer to the images a learner
    would bring than blocky nearest-neighbour pixels.
    """
    _check_size(size)
    raw = load_digits()
    idx = _split_indices(len(raw.images), split)
    pixels = (raw.images[idx] / 16.0 * 255.0).round().astype(np.uint8)
    images = [
        PILImage.fromarray(p, mode="L").resize((size, size), PILImage.Resampling.BICUBIC)
        for p in pixels
    ]
    return images, raw.target[idx].astype(np.int64)


def digits_dataset(size: int = DEFAULT_SIZE, split: str = "all") -> Dataset:
    """The digits as a 🤗 Dataset with ``image`` (PIL, mode L) and ``label`` columns."""
    images, labels = digit_pil_images(size, split)
    features = Features({"image": Image(), "label": ClassLabel(num_classes=10)})
    return Dataset.from_dict({"image": images, "label": labels.tolist()}, features=features)


def pil_to_tensor(image: PILImage.Image, channels: int = 1) -> torch.Tensor:
    """Convert a PIL image to a float tensor (C, H, W) scaled to [-1, 1]."""
    mode = {1: "L", 3: "RGB"}[channels]
    array = np.asarray(image.convert(mode), dtype=np.float32) / 127.5 - 1.0
    if array.ndim == 2:
        array = array[None]
    else:
        array = array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


def tensor_to_pil(images: torch.Tensor) -> list[PILImage.Image]:
    """Convert a batch (N, C, H, W) in [-1, 1] to PIL images (the inverse of pil_to_tensor)."""
    array = ((images.detach().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    out = []
    for img in array:
        if img.shape[0] == 1:
            out.append(PILImage.fromarray(img[0], mode="L"))
        else:
            out.append(PILImage.fromarray(img.transpose(1, 2, 0), mode="RGB"))
    return out


def digits_tensors(size: int = DEFAULT_SIZE, split: str = "all") -> DigitsTensors:
    """The digits as tensors: images (N, 1, size, size) in [-1, 1] and labels (N,)."""
    images, labels = digit_pil_images(size, split)
    stacked = torch.stack([pil_to_tensor(img) for img in images])
    return DigitsTensors(images=stacked, labels=torch.from_numpy(labels))


def with_tensor_transform(dataset: Dataset, channels: int = 1) -> Dataset:
    """Attach an on-the-fly transform that turns the ``image`` column into ``pixel_values``.

    This is the pattern the 🤗 training examples use: the Dataset keeps PIL images and a
    DataLoader receives ready tensors.
    """

    def transform(batch: dict) -> dict:
        return {"pixel_values": [pil_to_tensor(img, channels) for img in batch["image"]]}

    return dataset.with_transform(transform)


__all__ = [
    "DEFAULT_SIZE",
    "DigitsTensors",
    "digit_pil_images",
    "digits_dataset",
    "digits_tensors",
    "pil_to_tensor",
    "tensor_to_pil",
    "with_tensor_transform",
]
