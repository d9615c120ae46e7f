"""A small CNN that recognises the 16x16 digits, trained by our own code.

It serves the sample-quality metric: its penultimate layer is the feature space of the Fréchet
distance and its softmax says whether a generated image reads as a digit. It is trained on the
'train' split only, so the held-out 'test' split stays unseen by everything the metric uses.

Reproduce the shipped weights (about 10 s on a laptop CPU)::

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
WEIGHTS_PATH = Path(__file__).parent / "assets" / "digits_classifier.safetensors"


class DigitsClassifier(nn.Module):
    """Four 3x3 convolutions, two poolings, a 64-d feature layer and ten logits (~80k weights)."""

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
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The 64-d features of images (N, 1, 16, 16) in [-1, 1]."""
        return F.relu(self.embed(self.convs(images).flatten(1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 1 pixel and light noise: generated digits are never centred
    exactly like the scans, and the classifier should not care."""
    n = images.shape[0]
    padded = F.pad(images, (1, 1, 1, 1), value=-1.0)
    dx, dy = torch.randint(0, 3, (2, n), generator=generator)
    shifted = torch.stack(
        [padded[i, :, dy[i] : dy[i] + INPUT_SIZE, dx[i] : dx[i] + INPUT_SIZE] for i in range(n)]
    )
    noise = 0.1 * torch.randn(shifted.shape, generator=generator)
    return (shifted + noise).clamp(-1, 1)


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
            logits = model(augment(data.images[idx], generator))
            loss = F.cross_entropy(logits, data.labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: DigitsClassifier, split: str = "test") -> float:
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
