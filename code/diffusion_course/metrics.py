"""Sample quality for the digits: a Fréchet distance, confidence and class coverage.

``evaluate_samples(images)`` compares generated digits with the held-out 'test' digits in the
feature space of the course's own small classifier (see ``classifier.py``):

* **FD** – Fréchet distance between the two feature distributions (lower is better). It is the
  FID recipe with a digits classifier instead of Inception, so its numbers are only comparable
  with other FD values from this module, and it depends on the sample count. That is why every
  report carries the **real-vs-real reference**: the same distance between an equally large
  subset of *training* digits and the test digits, i.e. the best a perfect model could expect.
* **confident** – the share of samples the classifier labels with softmax >= 0.9 (legible).
* **classes** – how many of the ten digits make up at least 2.5 % of the samples (diversity),
  with the normalised entropy of the predicted-class histogram alongside.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from diffusion_course.classifier import INPUT_SIZE, load_classifier
from diffusion_course.data import digits_tensors

CONFIDENCE = 0.9
COVERAGE_SHARE = 0.025
NUM_CLASSES = 10


@dataclass(frozen=True)
class QualityReport:
    """The metric of one batch of samples; ``str()`` gives one language-neutral line."""

    fd: float
    reference_fd: float
    confident_share: float
    class_coverage: int
    class_entropy: float
    num_samples: int

    def __str__(self) -> str:
        return (
            f"FD {self.fd:.1f} (real vs real {self.reference_fd:.1f}) | "
            f"confident {self.confident_share:.0%} | classes {self.class_coverage}/{NUM_CLASSES}"
        )

    def to_dict(self) -> dict:
        return asdict(self)


def prepare(images: torch.Tensor) -> torch.Tensor:
    """Bring images (N, C, H, W) in [-1, 1] to the classifier's 1x16x16 input."""
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {tuple(images.shape)}")
    images = images.detach().float().cpu()
    if images.shape[1] == 3:
        images = images.mean(dim=1, keepdim=True)
    elif images.shape[1] != 1:
        raise ValueError(f"expected 1 or 3 channels, got {images.shape[1]}")
    if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        images = F.interpolate(
            images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True
        )
    return images.clamp(-1, 1)


@torch.no_grad()
def classify(images: torch.Tensor, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, 64) and class probabilities (N, 10) of images in [-1, 1]."""
    model = load_classifier()
    feats, probs = [], []
    for chunk in prepare(images).split(batch_size):
        f = model.features(chunk)
        feats.append(f)
        probs.append(model.head(f).softmax(dim=1))
    return torch.cat(feats).double().numpy(), torch.cat(probs).double().numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples).

    ``tr(sqrt(S_a S_b))`` is computed as the sum of square roots of the eigenvalues of the
    symmetric ``sqrt(S_a) S_b sqrt(S_a)``, which avoids the complex round-off of ``sqrtm``.
    """
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Fréchet distance needs at least two samples on each side")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(cov_a)
    root_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(middle, 0, None)).sum()
    value = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(value, 0.0))


@lru_cache(maxsize=2)
def _real_features(split: str) -> np.ndarray:
    return classify(digits_tensors(INPUT_SIZE, split).images)[0]


@lru_cache(maxsize=32)
def reference_fd(num_samples: int, seed: int = 0) -> float:
    """FD between ``num_samples`` training digits and the test digits: the real-data floor."""
    train = _real_features("train")
    n = min(num_samples, len(train))
    idx = np.random.default_rng(seed).choice(len(train), size=n, replace=False)
    return frechet_distance(train[idx], _real_features("test"))


def class_stats(probs: np.ndarray) -> tuple[int, float]:
    """Classes with at least COVERAGE_SHARE of the samples, and the normalised entropy."""
    counts = np.bincount(probs.argmax(1), minlength=NUM_CLASSES)
    share = counts / counts.sum()
    covered = int(((share >= COVERAGE_SHARE) & (counts > 0)).sum())
    nonzero = share[share > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum() / np.log(NUM_CLASSES))
    return covered, entropy


def evaluate_samples(images: torch.Tensor, seed: int = 0) -> QualityReport:
    """Score generated digits (N, C, H, W) in [-1, 1] against the held-out test digits."""
    feats, probs = classify(images)
    covered, entropy = class_stats(probs)
    return QualityReport(
        fd=frechet_distance(feats, _real_features("test")),
        reference_fd=reference_fd(len(feats), seed),
        confident_share=float((probs.max(1) >= CONFIDENCE).mean()),
        class_coverage=covered,
        class_entropy=entropy,
        num_samples=len(feats),
    )


__all__ = [
    "QualityReport",
    "class_stats",
    "classify",
    "evaluate_samples",
    "frechet_distance",
    "reference_fd",
]
