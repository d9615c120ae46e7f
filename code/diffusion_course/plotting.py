"""Image grids and figures shared by the chapters.

Grids are built with ``diffusers.utils.make_image_grid``; figures use matplotlib with
language-neutral labels (symbols and numbers), so one execution serves the English and the
Chinese page alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from diffusers.utils import make_image_grid
from PIL import Image as PILImage

from diffusion_course.data import tensor_to_pil


def image_grid(
    images: torch.Tensor | Sequence[PILImage.Image],
    cols: int | None = None,
    scale: int = 4,
) -> PILImage.Image:
    """Arrange a batch of images in [-1, 1] (or PIL images) in a grid, upscaled for display.

    ``scale`` enlarges tiny 16x16 digits with nearest-neighbour resampling so that each pixel
    stays visible on the page instead of being blurred by the browser.
    """
    pils = tensor_to_pil(images) if isinstance(images, torch.Tensor) else list(images)
    if not pils:
        raise ValueError("image_grid needs at least one image")
    cols = cols or min(len(pils), 8)
    rows = math.ceil(len(pils) / cols)
    blank = PILImage.new(pils[0].mode, pils[0].size)
    pils = pils + [blank] * (rows * cols - len(pils))
    grid = make_image_grid(pils, rows=rows, cols=cols)
    if scale != 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), PILImage.Resampling.NEAREST)
    return grid


def show_row(
    images: torch.Tensor,
    titles: Sequence[str] | None = None,
    size: float = 1.6,
) -> plt.Figure:
    """Show images (N, C, H, W) in [-1, 1] side by side, each with an optional short title."""
    n = images.shape[0]
    fig, axes = plt.subplots(1, n, figsize=(size * n, size * 1.15), squeeze=False)
    for i, (ax, img) in enumerate(zip(axes[0], tensor_to_pil(images), strict=True)):
        ax.imshow(img, cmap="gray" if img.mode == "L" else None, vmin=0, vmax=255)
        ax.set_axis_off()
        if titles is not None:
            ax.set_title(titles[i], fontsize=10)
    fig.tight_layout()
    return fig


def plot_curves(
    curves: dict[str, Sequence[float]],
    x: Sequence[float] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    logy: bool = False,
) -> plt.Figure:
    """Plot one or more named curves against a shared x axis on one set of axes."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, ys in curves.items():
        xs = list(x) if x is not None else list(range(len(ys)))
        ax.plot(xs, list(ys), label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if len(curves) > 1:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
