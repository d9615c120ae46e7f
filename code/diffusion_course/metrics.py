"""Sample quality for the digits: a kernel distance, a recognizable share and class coverage.

``evaluate_samples(images)`` compares generated digits with ONE fixed set of real digits, the
held-out 'test' split that neither the diffusion models nor the classifier ever train on, in the
feature space of the course's own small classifier (see ``classifier.py``):

* **KID** – kernel inception distance (Bińkowski et al. 2018) with the digits classifier in
  place of Inception: the unbiased estimate of the squared MMD with the kernel
  ``(x·y / d + 1)^3``, times 1000. Unlike the Fréchet distance its expected value does not move
  with the sample count, so figures from different pages are comparable. Lower is better; 0
  means the generated and real feature distributions match.
* **recognizable** – the share of samples the classifier reads as one digit with probability
  >= ``RECOGNIZABLE_P`` and not as its eleventh class, "not a digit" (blends of two digits,
  heavy blur, half-erased digits and noise all fail; >= 97 % of held-out real digits pass).
* **classes** – how many of the ten digits make up at least 2.5 % of the recognizable samples.

Every figure carries a 95 % bootstrap interval over the generated samples (the real set is the
fixed yardstick, not resampled). ``compare_samples`` scores two models on paired samples (the
same initial noise, the same bootstrap resamples) so their *difference* gets its own, tighter
interval. Beside each
model figure the report carries the **real-vs-real reference**: the same metric for an equally
large set of *training* digits, i.e. what a model that reproduces its training data would get.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from diffusion_course.classifier import INPUT_SIZE, NUM_DIGITS, load_classifier
from diffusion_course.data import digits_tensors

RECOGNIZABLE_P = 0.8
COVERAGE_SHARE = 0.025
KID_SCALE = 1000.0
BOOTSTRAP_ROUNDS = 1000
CONFIDENCE_LEVEL = 0.95


METRIC_NOTE = (
    "KID x 10^3 is the kernel distance to the held-out test digits in the feature space of the\n"
    "course's digits classifier (lower is better, 0 = indistinguishable; its expected value does\n"
    "not depend on the sample count); 'real vs real' is the same figure for as many training\n"
    "digits. 'recognizable' is the share of samples the classifier reads as one digit with\n"
    f"p >= {RECOGNIZABLE_P} (not as a blend, blur, fragment or noise); 'classes' counts digits\n"
    "that make up at least 2.5 % of them. Brackets: 95 % bootstrap intervals over the samples."
)


@dataclass(frozen=True)
class Interval:
    """A figure with its 95 % interval, printed as ``value [low, high]``."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return self.format("{:.2f}")

    def format(self, spec: str) -> str:
        return f"{spec.format(self.value)} [{spec.format(self.low)}, {spec.format(self.high)}]"

    def excludes_zero(self) -> bool:
        """For a difference: True when the interval says the two sides really differ."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class QualityReport:
    """The metric of one batch of samples; ``str()`` gives one language-neutral line."""

    kid: Interval
    recognizable: Interval
    class_coverage: int
    class_entropy: float
    num_samples: int
    reference_kid: Interval
    reference_recognizable: Interval

    def __str__(self) -> str:
        return (
            f"KID {self.kid} (real vs real {self.reference_kid}) | "
            f"recognizable {self.recognizable.format('{:.0%}')} "
            f"(real {self.reference_recognizable.format('{:.0%}')}) | "
            f"classes {self.class_coverage}/{NUM_DIGITS}"
        )

    def to_dict(self) -> dict:
        """Flat numbers for CSV files: ``kid``, ``kid_low``, ``kid_high``, ..."""
        flat: dict = {}
        for key, value in asdict(self).items():
            if isinstance(value, dict):
                flat[key] = value["value"]
                flat[f"{key}_low"], flat[f"{key}_high"] = value["low"], value["high"]
            else:
                flat[key] = value
        return flat


@dataclass(frozen=True)
class Comparison:
    """Paired differences A - B (negative KID difference: A is closer to the real digits)."""

    kid_difference: Interval
    recognizable_difference: Interval
    num_samples: int

    def __str__(self) -> str:
        return (
            f"KID A-B {self.kid_difference} | "
            f"recognizable A-B {self.recognizable_difference.format('{:+.1%}')}"
        )


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
    """Features (N, 64) and class probabilities (N, 11; the last is "not a digit")."""
    model = load_classifier()
    feats, probs = [], []
    for chunk in prepare(images).split(batch_size):
        f = model.features(chunk)
        feats.append(f)
        probs.append(model.head(f).softmax(dim=1))
    return torch.cat(feats).double().numpy(), torch.cat(probs).double().numpy()


def recognizable_mask(probs: np.ndarray) -> np.ndarray:
    """True where one digit has probability >= RECOGNIZABLE_P (so "not a digit" cannot win)."""
    return probs[:, :NUM_DIGITS].max(1) >= RECOGNIZABLE_P


def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cubic polynomial kernel of KID, on features divided by the real digits' RMS value
    (Inception features, for which the kernel was designed, are of order 1; ours are not)."""
    scale = feature_scale()
    return ((a / scale) @ (b / scale).T / a.shape[1] + 1.0) ** 3


def _within(k: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mean of k[i, j] over pairs of *different* samples, for each row of resample counts w."""
    n = w.sum(1)
    pairs = np.einsum("bi,ij,bj->b", w, k, w) - (w**2) @ np.diag(k)
    return pairs / (n**2 - (w**2).sum(1))


def kid_values(gen: np.ndarray, real: np.ndarray, w_gen: np.ndarray) -> np.ndarray:
    """Unbiased squared MMD (times KID_SCALE) between generated and real features, for each
    row of resample counts of the generated side (an all-ones row gives the plain estimate).
    Pairs of a sample with itself stay excluded even when the bootstrap repeats a sample.
    The real side is the fixed reference set and is not resampled."""
    ones = np.ones((1, len(real)))
    real_term = _within(kernel(real, real), ones)[0]
    cross = w_gen @ kernel(gen, real).mean(1) / w_gen.sum(1)
    return (_within(kernel(gen, gen), w_gen) + real_term - 2 * cross) * KID_SCALE


def _resamples(n: int, rng: np.random.Generator, rounds: int) -> np.ndarray:
    """Row 0: every sample once (the estimate itself); rows 1..: bootstrap counts."""
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=rounds).astype(np.float64)
    return np.vstack([np.ones(n), counts])


def _interval(values: np.ndarray) -> Interval:
    """values[0] is the estimate, the rest bootstrap replicates: percentile interval."""
    tail = (1 - CONFIDENCE_LEVEL) / 2 * 100
    low, high = np.percentile(values[1:], [tail, 100 - tail])
    return Interval(float(values[0]), float(low), float(high))


@lru_cache(maxsize=2)
def real_features(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Features and probabilities of the real digits of a split (cached per process)."""
    return classify(digits_tensors(INPUT_SIZE, split).images)


@lru_cache(maxsize=1)
def feature_scale() -> float:
    """Root mean square of the held-out digits' features: a fixed unit for the kernel."""
    return float(np.sqrt((real_features("test")[0] ** 2).mean()))


def class_stats(probs: np.ndarray) -> tuple[int, float]:
    """Digits with at least COVERAGE_SHARE of the recognizable samples, and the normalised
    entropy of their histogram (1 = all ten equally often)."""
    keep = recognizable_mask(probs)
    counts = np.bincount(probs[keep, :NUM_DIGITS].argmax(1), minlength=NUM_DIGITS)
    if counts.sum() == 0:
        return 0, 0.0
    share = counts / counts.sum()
    covered = int(((share >= COVERAGE_SHARE) & (counts > 0)).sum())
    nonzero = share[share > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum() / np.log(NUM_DIGITS))
    return covered, entropy


def _scores(
    feats: np.ndarray, probs: np.ndarray, seed: int, rounds: int
) -> tuple[np.ndarray, np.ndarray]:
    """KID and recognizable share for the estimate and each bootstrap resample."""
    w_gen = _resamples(len(feats), np.random.default_rng(seed), rounds)
    kid = kid_values(feats, real_features("test")[0], w_gen)
    share = w_gen @ recognizable_mask(probs).astype(np.float64) / len(feats)
    return kid, share


@lru_cache(maxsize=16)
def reference(num_samples: int, seed: int = 0) -> tuple[Interval, Interval]:
    """KID and recognizable share of ``num_samples`` training digits: the real-vs-real floor."""
    feats, probs = real_features("train")
    n = min(num_samples, len(feats))
    idx = np.random.default_rng(seed).choice(len(feats), size=n, replace=False)
    kid, share = _scores(feats[idx], probs[idx], seed, BOOTSTRAP_ROUNDS)
    return _interval(kid), _interval(share)


def evaluate_samples(
    images: torch.Tensor, seed: int = 0, rounds: int = BOOTSTRAP_ROUNDS
) -> QualityReport:
    """Score generated digits (N, C, H, W) in [-1, 1] against the held-out test digits."""
    feats, probs = classify(images)
    if len(feats) < 2:
        raise ValueError("the metric needs at least two samples")
    kid, share = _scores(feats, probs, seed, rounds)
    covered, entropy = class_stats(probs)
    ref_kid, ref_share = reference(len(feats), seed)
    return QualityReport(
        kid=_interval(kid),
        recognizable=_interval(share),
        class_coverage=covered,
        class_entropy=entropy,
        num_samples=len(feats),
        reference_kid=ref_kid,
        reference_recognizable=ref_share,
    )


def compare_samples(
    images_a: torch.Tensor, images_b: torch.Tensor, seed: int = 0, rounds: int = BOOTSTRAP_ROUNDS
) -> Comparison:
    """Paired comparison of two models' samples: image i of A and of B must come from the same
    initial noise (``generate`` with the same seed does that). Both use the same bootstrap
    resamples of the pairs and of the real digits, so shared noise cancels in A - B."""
    if images_a.shape[0] != images_b.shape[0]:
        raise ValueError("compare_samples needs the same number of paired samples from A and B")
    kid_a, share_a = _scores(*classify(images_a), seed, rounds)
    kid_b, share_b = _scores(*classify(images_b), seed, rounds)
    return Comparison(
        kid_difference=_interval(kid_a - kid_b),
        recognizable_difference=_interval(share_a - share_b),
        num_samples=images_a.shape[0],
    )


__all__ = [
    "METRIC_NOTE",
    "Comparison",
    "Interval",
    "QualityReport",
    "class_stats",
    "classify",
    "compare_samples",
    "evaluate_samples",
    "kid_values",
    "recognizable_mask",
    "reference",
]
