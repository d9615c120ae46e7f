"""A small CNN that recognises the 16x16 digits, or says "not a digit", trained by our own code.

It serves the sample-quality metric: its penultimate layer is the feature space of the kernel
distance and its softmax says whether a generated image reads as a digit. Besides the ten digits
it has an eleventh class, "not a digit", learnt from images made out of training digits that no
reader would accept: blends of two different digits, heavily blurred digits, digits with about
half erased, and noise (plain or smoothed into blobs, the typical failure of an undertrained
diffusion model). Without it a classifier confidently names the nearest digit for any blob.
It is trained on the 'train' split only, so the held-out 'test' split stays unseen by everything
the metric uses.

Reproduce the shipped weights (about a minute on a laptop CPU)::

    python -m diffusion_course.classifier --epochs 40 --seed 0
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from diffusion_course.data import digits_tensors
from diffusion_course.device import seed_everything

INPUT_SIZE = 16
FEATURE_DIM = 64
NUM_DIGITS = 10
NOT_A_DIGIT = 10  # index of the eleventh class
NEGATIVE_SHARE = 0.5  # fraction of each training batch replaced by non-digits
WEIGHTS_PATH = Path(__file__).parent / "assets" / "digits_classifier.safetensors"


class DigitsClassifier(nn.Module):
    """Four 3x3 convolutions, two poolings, a 64-d feature layer and 11 logits (~80k weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(64, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.embed = nn.Linear(32 * 4 * 4, FEATURE_DIM)
        self.head = nn.Linear(FEATURE_DIM, NUM_DIGITS + 1)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The 64-d features of images (N, 1, 16, 16) in [-1, 1]."""
        return F.relu(self.embed(self.convs(images).flatten(1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 1 pixel, a light blur and light noise: generated digits are
    never centred or as sharp as the scans, and the classifier should not care."""
    n = images.shape[0]
    padded = F.pad(images, (1, 1, 1, 1), value=-1.0)
    dx, dy = torch.randint(0, 3, (2, n), generator=generator)
    shifted = torch.stack(
        [padded[i, :, dy[i] : dy[i] + INPUT_SIZE, dx[i] : dx[i] + INPUT_SIZE] for i in range(n)]
    )
    soft = gaussian_blur(shifted, 0.05 + 0.65 * torch.rand(n, generator=generator))
    shifted = torch.where(torch.rand(n, 1, 1, 1, generator=generator) < 0.5, soft, shifted)
    noise = 0.1 * torch.randn(shifted.shape, generator=generator)
    return (shifted + noise).clamp(-1, 1)


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """Blur each image (N, 1, H, W) with its own Gaussian width ``sigma`` (pixels)."""
    sigma = torch.as_tensor(sigma, dtype=images.dtype).expand(images.shape[0])
    radius = 7
    x = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernels = torch.exp(-(x[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernels = kernels / kernels.sum(1, keepdim=True)
    padded = F.pad(images, (radius,) * 4, mode="replicate")
    n = images.shape[0]
    rows = F.conv2d(padded.transpose(0, 1), kernels[:, None, None, :], groups=n)
    both = F.conv2d(rows, kernels[:, None, :, None], groups=n)
    return both.transpose(0, 1)


def blend(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | float = 0.5) -> torch.Tensor:
    """Pixel-wise mix of two digit images (weight of ``a``), e.g. a 3 over an 8."""
    weight = torch.as_tensor(weight, dtype=a.dtype).reshape(-1, 1, 1, 1)
    return weight * a + (1 - weight) * b


def erase(images: torch.Tensor, side: torch.Tensor | int, fraction: float = 0.5) -> torch.Tensor:
    """Paint a band of ``fraction`` of the image background (-1) from a side:
    0 top, 1 bottom, 2 left, 3 right."""
    out = images.clone()
    side = torch.as_tensor(side).expand(images.shape[0])
    cut = round(INPUT_SIZE * fraction)
    for i, s in enumerate(side.tolist()):
        if s == 0:
            out[i, :, :cut] = -1
        elif s == 1:
            out[i, :, -cut:] = -1
        elif s == 2:
            out[i, :, :, :cut] = -1
        else:
            out[i, :, :, -cut:] = -1
    return out


def noise_images(n: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform noise, or Gaussian noise smoothed into blobs and stretched to [-1, 1]."""
    white = torch.rand(n, 1, INPUT_SIZE, INPUT_SIZE, generator=generator) * 2 - 1
    sigma = 0.8 + 1.7 * torch.rand(n, generator=generator)
    blobs = gaussian_blur(torch.randn(white.shape, generator=generator), sigma)
    low = blobs.amin((1, 2, 3), keepdim=True)
    high = blobs.amax((1, 2, 3), keepdim=True)
    blobs = (blobs - low) / (high - low + 1e-6) * 2 - 1
    pick = torch.rand(n, 1, 1, 1, generator=generator) < 0.3
    return torch.where(pick, white, blobs)


def non_digits(
    images: torch.Tensor, labels: torch.Tensor, n: int, generator: torch.Generator
) -> torch.Tensor:
    """``n`` images no reader would call a digit, made from the given digits (see module doc)."""
    pick = torch.randint(0, len(labels), (2, n), generator=generator)
    a, b = images[pick[0]], images[pick[1]]
    same = labels[pick[0]] == labels[pick[1]]
    b[same] = images[torch.roll(pick[0], 1)][same]  # mostly different digits
    kinds = torch.randint(0, 4, (n,), generator=generator)
    mixed = blend(a, b, 0.3 + 0.4 * torch.rand(n, generator=generator))
    blurred = gaussian_blur(a, 1.8 + 1.7 * torch.rand(n, generator=generator))
    fraction = 0.45 + 0.15 * torch.rand(1, generator=generator).item()
    erased = erase(a, torch.randint(0, 4, (n,), generator=generator), fraction)
    noise = noise_images(n, generator)
    choices = torch.stack([mixed, blurred, erased, noise])  # (4, n, 1, H, W)
    return choices[kinds, torch.arange(n)]


def train_classifier(epochs: int = 40, seed: int = 0, batch_size: int = 64) -> DigitsClassifier:
    """Train on the 'train' split with Adam and a cosine learning rate."""
    generator = seed_everything(seed)
    data = digits_tensors(INPUT_SIZE, "train")
    model = DigitsClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = epochs * -(-len(data.labels) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(data.labels), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            n_neg = round(len(idx) * NEGATIVE_SHARE / (1 - NEGATIVE_SHARE))
            fakes = non_digits(data.images, data.labels, n_neg, generator)
            images = torch.cat([data.images[idx], fakes])
            labels = torch.cat([data.labels[idx], torch.full((n_neg,), NOT_A_DIGIT)])
            logits = model(augment(images, generator))
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: DigitsClassifier, split: str = "test") -> float:
    """Share of real digits whose most likely class is their label."""
    data = digits_tensors(INPUT_SIZE, split)
    return (model(data.images).argmax(1) == data.labels).float().mean().item()


def save_classifier(model: DigitsClassifier, path: str | Path = WEIGHTS_PATH) -> None:
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"input_size": str(INPUT_SIZE)})


@lru_cache(maxsize=1)
def load_classifier() -> DigitsClassifier:
    """The shipped classifier, in eval mode on the CPU (loaded once per process)."""
    model = DigitsClassifier()
    model.load_state_dict(load_file(str(WEIGHTS_PATH)))
    return model.eval().requires_grad_(False)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the digits classifier of the metric.")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(WEIGHTS_PATH))
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = train_classifier(args.epochs, args.seed)
    save_classifier(model, args.out)
    print(f"test accuracy {accuracy(model):.3f}; saved {args.out}")


if __name__ == "__main__":
    main()
