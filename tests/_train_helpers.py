"""Shared settings for the training-script tests: tiny runs of a few seconds each."""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def tiny_args(output_dir: Path, steps: int = 4, every: int = 2) -> list[str]:
    """8x8 digits, batch 16, the tiny UNet: a step takes milliseconds."""
    return [
        "--output-dir", str(output_dir),
        "--resolution", "8",
        "--train-batch-size", "16",
        "--max-train-steps", str(steps),
        "--checkpointing-steps", str(every),
        "--lr-warmup-steps", "1",
        "--eval-samples", "0",
        "--num-sample-images", "4",
        "--sample-inference-steps", "2",
        "--no-progress-bar",
        "--no-tensorboard",
    ]  # fmt: skip


def logged_steps(output_dir: Path) -> list[int]:
    with open(output_dir / "logs" / "metrics.csv", newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


def subprocess_env() -> dict:
    """One torch thread per process: the test machine is small and shared."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env
