"""The digits metric: classifier, recognizable share, KID with intervals, paired comparison."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from _train_helpers import (
    REPO,
    subprocess_env,
)

from diffusion_course.classifier import (
    WEIGHTS_PATH,
    accuracy,
    blend,
    erase,
    gaussian_blur,
    load_classifier,
)
from diffusion_course.data import digits_tensors
from diffusion_course.metrics import (
    Interval,
    QualityReport,
    class_stats,
    classify,
    compare_samples,
    evaluate_samples,
    kid_values,
    recognizable_mask,
    reference,
)

N = 256

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def train_digits() -> torch.Tensor:
    """Training digits (the metric's reference side is the held-out test split)."""
    images = digits_tensors(16, "train").images
    return images[torch.randperm(len(images), generator=torch.Generator().manual_seed(1))[:N]]


@pytest.fixture(scope="module")
def held_out():
    return digits_tensors(16, "test")


def recognized(images: torch.Tensor) -> float:
    return float(recognizable_mask(classify(images)[1]).mean())


def other_digit_partners(labels: torch.Tensor) -> torch.Tensor:
    """For each image, the index of a later image showing a different digit."""
    partners = []
    for i in range(len(labels)):
        j = (i + 1) % len(labels)
        while labels[j] == labels[i]:
            j = (j + 1) % len(labels)
        partners.append(j)
    return torch.tensor(partners)


def test_shipped_classifier_is_small_and_accurate():
    assert WEIGHTS_PATH.stat().st_size < 400_000
    assert accuracy(load_classifier(), "test") > 0.95


def test_held_out_real_digits_are_recognizable(held_out):
    assert recognized(held_out.images) >= 0.97


def test_blend_of_two_different_digits_is_not_recognizable(held_out):
    partner = other_digit_partners(held_out.labels)
    assert recognized(blend(held_out.images, held_out.images[partner], 0.5)) <= 0.03


def test_heavily_blurred_digit_is_not_recognizable(held_out):
    assert recognized(gaussian_blur(held_out.images, 2.5)) <= 0.03


@pytest.mark.parametrize("side", [0, 1, 2, 3], ids=["top", "bottom", "left", "right"])
def test_half_erased_digit_is_not_recognizable(held_out, side):
    assert recognized(erase(held_out.images, side, 0.5)) <= 0.03


@pytest.mark.parametrize("kind", ["uniform", "gaussian"])
def test_pure_noise_is_not_recognizable(kind):
    generator = torch.Generator().manual_seed(3)
    shape = (N, 1, 16, 16)
    if kind == "uniform":
        noise = torch.rand(shape, generator=generator) * 2 - 1
    else:
        noise = torch.randn(shape, generator=generator).clamp(-1, 1)
    assert recognized(noise) == 0.0


def test_kid_is_unbiased_and_zero_for_identical_distributions():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 8)) + 2, rng.normal(size=(200, 8)) + 2
    ones = np.ones((1, 300))
    # same distribution: the unbiased estimate scatters around 0, it does not stay positive
    same = [kid_values(a, rng.normal(size=(200, 8)) + 2, ones)[0] for _ in range(20)]
    shifted = kid_values(a, b + 1.0, ones)[0]
    assert abs(np.mean(same)) < 3 * np.std(same) / np.sqrt(20) + 1e-9
    assert shifted > 10 * np.std(same)


def test_kid_does_not_grow_with_fewer_samples(train_digits):
    small = evaluate_samples(train_digits[:64]).kid
    large = evaluate_samples(train_digits).kid
    assert small.low < large.value < small.high  # same expectation, wider interval


def test_bootstrap_repeats_do_not_count_self_pairs():
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(50, 4))
    twice = np.vstack([np.ones(50) * 2])  # every sample counted twice = the same estimate
    once = np.ones((1, 50))
    real = rng.normal(size=(60, 4))
    assert kid_values(feats, real, twice)[0] == pytest.approx(
        kid_values(feats, real, once)[0], rel=1e-9
    )


def test_metric_ranks_real_far_above_noise_and_above_blur(train_digits):
    good = evaluate_samples(train_digits)
    noise = evaluate_samples(
        torch.rand(N, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    )
    blurred = evaluate_samples(gaussian_blur(train_digits, 1.0))
    assert good.kid.low < 0 < good.kid.high  # real digits: indistinguishable from real
    assert good.kid.high < blurred.kid.low and blurred.kid.high < noise.kid.low
    assert good.recognizable.value > 0.95 and good.class_coverage == 10
    assert noise.recognizable.value == 0.0 and noise.class_coverage == 0
    assert good.class_entropy > 0.95


def test_intervals_contain_the_value_and_shrink_with_more_samples(train_digits):
    small, large = evaluate_samples(train_digits[:64]), evaluate_samples(train_digits)
    for report in (small, large):
        for figure in (report.kid, report.recognizable, report.reference_kid):
            assert figure.low <= figure.value <= figure.high
    width = lambda i: i.high - i.low  # noqa: E731
    assert width(large.kid) < width(small.kid)


def test_one_class_only_is_caught_by_coverage(train_digits):
    data = digits_tensors(16, "train")
    only = data.images[data.labels == 1][:100]
    report = evaluate_samples(only)
    assert report.class_coverage == 1 and report.class_entropy < 0.1
    assert report.kid.low > evaluate_samples(train_digits[:100]).kid.high


def test_paired_comparison_resolves_a_small_difference(train_digits):
    """A mild blur is hard to call from two separate intervals, easy from the paired one."""
    mild = gaussian_blur(train_digits, 0.5)
    diff = compare_samples(mild, train_digits).kid_difference
    assert diff.excludes_zero() and diff.value > 0
    same = compare_samples(train_digits, train_digits).kid_difference
    assert same.value == 0.0 and same.low == 0.0 == same.high
    with pytest.raises(ValueError):
        compare_samples(train_digits[:10], train_digits[:20])


def test_report_line_and_reference(train_digits):
    report = evaluate_samples(train_digits[:64])
    line = str(report)
    number = r"-?\d+\.\d\d"
    interval = rf"{number} \[{number}, {number}\]"
    percent = r"\d+% \[\d+%, \d+%\]"
    assert re.fullmatch(
        rf"KID {interval} \(real vs real {interval}\) \| recognizable {percent} "
        rf"\(real {percent}\) \| classes \d+/10",
        line,
    ), line
    assert (report.reference_kid, report.reference_recognizable) == reference(64)
    assert report.num_samples == 64 and isinstance(report, QualityReport)
    flat = report.to_dict()
    assert {"kid", "kid_low", "kid_high", "recognizable_low", "class_coverage"} <= set(flat)
    assert str(Interval(1.0, 0.5, 1.5)) == "1.00 [0.50, 1.50]"


def test_other_sizes_and_rgb_are_accepted(train_digits):
    big = torch.nn.functional.interpolate(train_digits[:64], size=32, mode="bilinear")
    assert evaluate_samples(big).recognizable.value > 0.8
    rgb = train_digits[:64].repeat(1, 3, 1, 1)
    assert evaluate_samples(rgb).kid.value == pytest.approx(
        evaluate_samples(train_digits[:64]).kid.value, rel=1e-4, abs=1e-6
    )
    with pytest.raises(ValueError):
        evaluate_samples(train_digits[0])


def test_class_stats_counts_covered_classes():
    probs = np.zeros((100, 11))
    probs[np.arange(100), [0] * 50 + [1] * 49 + [2]] = 1.0
    covered, entropy = class_stats(probs)
    assert covered == 2 and 0 < entropy < 0.35


def test_evaluate_cli_rejects_a_non_pipeline(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "diffusion_course.evaluate", str(tmp_path)],
        capture_output=True, text=True, env=subprocess_env(), cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: ") and "model_index.json" in result.stderr
