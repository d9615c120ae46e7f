"""Device choice and seeding.

The book executes on a CPU; learners on Colab get a GPU. Every chapter calls these two
functions first so that a page picks the fastest device available and a build run twice prints
the same numbers.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: CUDA, then Apple's MPS, then the CPU.

    ``prefer`` (or the environment variable ``DIFFUSION_COURSE_DEVICE``) forces a choice, which
    is how the tests and the book pin the CPU even on a machine that has a GPU.
    """
    choice = prefer or os.environ.get("DIFFUSION_COURSE_DEVICE")
    if choice:
        return torch.device(choice)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a CPU generator seeded the same way.

    Returning a generator lets callers pass it explicitly to samplers, which keeps sampling
    reproducible even when other code draws random numbers in between.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
