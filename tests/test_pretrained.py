"""The shipped pretrained pipeline: loads offline, is small, and draws digits."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from _train_helpers import (
    REPO,
    subprocess_env,
)
from diffusers import DDPMPipeline

from diffusion_course.evaluate import evaluate_pipeline
from diffusion_course.pretrained import PRETRAINED_DIR, load_pretrained_pipeline

pytestmark = pytest.mark.usefixtures("one_thread")


def test_files_are_small_and_safetensors():
    total = sum(p.stat().st_size for p in PRETRAINED_DIR.rglob("*") if p.is_file())
    assert total < 6_000_000
    assert (PRETRAINED_DIR / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    assert not list(PRETRAINED_DIR.rglob("*.bin"))
    assert not (PRETRAINED_DIR / "checkpoints").exists()


def test_package_data_includes_the_assets():
    text = (REPO / "code" / "pyproject.toml").read_text()
    assert re.search(r'diffusion_course = \[[^\]]*"assets/\*\*/\*"', text)


def test_loads_with_diffusers_offline():
    code = (
        "from diffusers import DDPMPipeline; from diffusion_course.pretrained import "
        "PRETRAINED_DIR; p = DDPMPipeline.from_pretrained(PRETRAINED_DIR); "
        "print(type(p).__name__, p.unet.config.sample_size, p.unet.config.in_channels)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env=subprocess_env(), cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["DDPMPipeline", "16", "1"]


def test_model_card_records_the_run():
    card = (PRETRAINED_DIR / "README.md").read_text()
    assert "python -m diffusion_course.train" in card
    for needle in ("seed: ", "training time: ", "hardware: ", "real vs real"):
        assert needle in card
    assert re.search(r"KID -?\d+\.\d\d \[-?\d+\.\d\d, -?\d+\.\d\d\] \(real vs real", card)


@pytest.fixture(scope="module")
def pipeline() -> DDPMPipeline:
    return load_pretrained_pipeline(device="cpu")


def test_loader_returns_a_cpu_pipeline(pipeline):
    assert isinstance(pipeline, DDPMPipeline)
    assert pipeline.unet.device == torch.device("cpu")


def test_samples_read_as_digits(pipeline):
    report = evaluate_pipeline(pipeline, num_samples=128, steps=50, seed=0)
    assert report.recognizable.low > 0.85, report
    assert report.class_coverage == 10, report
    assert report.kid.low < report.reference_kid.high, report  # within the noise of real digits


def evaluate_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "diffusion_course.evaluate", str(PRETRAINED_DIR), *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=subprocess_env(), cwd=REPO, timeout=300
    )


def test_evaluate_compare_pairs_the_samples(tmp_path):
    # The same model on both sides: with paired noise every difference is exactly zero.
    quick = ["--num-samples", "16", "--sampler", "ddim", "--steps", "2"]
    result = evaluate_cli(*quick, "--compare", str(PRETRAINED_DIR))
    assert result.returncode == 0, result.stderr
    difference = result.stdout.strip().splitlines()[-1]
    assert difference.startswith("this minus ")
    assert "KID A-B 0.00 [0.00, 0.00]" in difference, difference
    assert "recognizable A-B +0.0% [+0.0%, +0.0%]" in difference, difference
    missing = evaluate_cli(*quick, "--compare", str(tmp_path))
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.startswith("error: ") and "model_index.json" in missing.stderr
