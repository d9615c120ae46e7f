"""The small DDPM shipped inside the package, so chapters can load a trained model offline.

It was trained with ``diffusion_course.train`` on the 16x16 greyscale digits; the exact command,
seed, wall time, hardware and metric are in ``assets/ddpm-digits-16/README.md``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DDPMPipeline

from diffusion_course.device import get_device

PRETRAINED_DIR = Path(__file__).parent / "assets" / "ddpm-digits-16"


def load_pretrained_pipeline(device: torch.device | str | None = None) -> DDPMPipeline:
    """Load the shipped ``DDPMPipeline`` from the package (never from the Hub) onto ``device``.

    ``device=None`` picks the best available one with :func:`get_device`.
    """
    pipeline = DDPMPipeline.from_pretrained(str(PRETRAINED_DIR), local_files_only=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(get_device(str(device) if device is not None else None))


__all__ = ["PRETRAINED_DIR", "load_pretrained_pipeline"]
