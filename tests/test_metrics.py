"""The digits metric: classifier, Fréchet distance and the report."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _train_helpers import (
    REPO,
    subprocess_env,
)

from diffusion_course.classifier import WEIGHTS_PATH, accuracy, load_classifier
from diffusion_course.data import digits_tensors
from diffusion_course.metrics import (
    QualityReport,
    class_stats,
    evaluate_samples,
    frechet_distance,
    reference_fd,
)

N = 256


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def real() -> torch.Tensor:
    """Training digits (the reference side is the held-out test split)."""
    images = digits_tensors(16, "train").images
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(1))[:N]]


def blur(images: torch.Tensor) -> torch.Tensor:
    kernel = torch.ones(1, 1, 5, 5) / 25
    return F.conv2d(F.pad(images, (2, 2, 2, 2), mode="replicate"), kernel)


def test_shipped_classifier_is_small_and_accurate():
    assert WEIGHTS_PATH.stat().st_size < 400_000
    assert accuracy(load_classifier(), "test") > 0.95


def test_frechet_distance_basics():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + 3.0
    assert frechet_distance(a, shifted) == pytest.approx(8 * 9.0, rel=1e-6)
    b = rng.normal(size=(400, 8)) * 2
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)
    with pytest.raises(ValueError):
        frechet_distance(a[:1], b)


def test_metric_ranks_real_far_above_noise_and_above_blur(real):
    good = evaluate_samples(real)
    noise = evaluate_samples(
        torch.rand(N, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    )
    blurred = evaluate_samples(blur(real))
    assert good.fd < 3 * good.reference_fd
    assert noise.fd > 10 * good.fd
    assert good.fd < blurred.fd < noise.fd
    assert good.confident_share > 0.9 and good.class_coverage == 10
    assert noise.confident_share < good.confident_share
    assert good.class_entropy > 0.95


def test_one_class_only_is_caught_by_coverage(real):
    ones = digits_tensors(16, "train")
    only = ones.images[ones.labels == 1][:100]
    report = evaluate_samples(only)
    assert report.class_coverage <= 2 and report.class_entropy < 0.3
    assert report.fd > evaluate_samples(real[:100]).fd


def test_report_line_and_reference(real):
    report = evaluate_samples(real[:64])
    line = str(report)
    assert re.fullmatch(
        r"FD \d+\.\d \(real vs real \d+\.\d\) \| confident \d+% \| classes \d+/10", line
    )
    assert report.reference_fd == pytest.approx(reference_fd(64))
    assert report.num_samples == 64 and isinstance(report, QualityReport)
    assert set(report.to_dict()) >= {"fd", "reference_fd", "confident_share", "class_coverage"}


def test_other_sizes_and_rgb_are_accepted(real):
    big = F.interpolate(real[:64], size=32, mode="bilinear")
    assert evaluate_samples(big).confident_share > 0.8
    rgb = real[:64].repeat(1, 3, 1, 1)
    assert evaluate_samples(rgb).fd == pytest.approx(evaluate_samples(real[:64]).fd, rel=1e-4)
    with pytest.raises(ValueError):
        evaluate_samples(real[0])


def test_class_stats_counts_covered_classes():
    probs = np.eye(10)[[0] * 50 + [1] * 49 + [2]]
    covered, entropy = class_stats(probs)
    assert covered == 2 and 0 < entropy < 0.35


def test_evaluate_cli_rejects_a_non_pipeline(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "diffusion_course.evaluate", str(tmp_path)],
        capture_output=True, text=True, env=subprocess_env(), cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and "model_index.json" in result.stderr
