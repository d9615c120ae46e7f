import matplotlib
import numpy as np
import pytest
import torch

from diffusion_course.data import digits_tensors, tensor_to_pil
from diffusion_course.plotting import image_grid, plot_curves, show_row

matplotlib.use("Agg")


def test_image_grid_arranges_and_upscales():
    images = digits_tensors().images[:10]
    grid = image_grid(images, cols=4, scale=3)
    # 10 images in 4 columns need 3 rows; every cell is 16 px, upscaled 3x.
    assert grid.size == (4 * 16 * 3, 3 * 16 * 3)
    # The first cell is the first digit, pixel for pixel (nearest-neighbour upscaling).
    first = tensor_to_pil(images[:1])[0]
    cell = np.asarray(grid.convert("L"))[1:48:3, 1:48:3]
    assert np.array_equal(cell, np.asarray(first))
    # Padding cells are black.
    assert grid.convert("L").crop((2 * 48, 2 * 48, 4 * 48, 3 * 48)).getextrema() == (0, 0)


def test_image_grid_accepts_pil_images_and_rejects_empty_input():
    pils = tensor_to_pil(digits_tensors().images[:3])
    assert image_grid(pils, scale=1).size == (48, 16)
    with pytest.raises(ValueError, match="at least one image"):
        image_grid(torch.empty(0, 1, 16, 16))


def test_show_row_titles_every_panel():
    fig = show_row(digits_tensors().images[:4], titles=["a", "b", "c", "d"])
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c", "d"]


def test_plot_curves_draws_each_curve_with_its_values():
    fig = plot_curves({"x": [1, 2, 3], "y": [3, 2, 1]}, x=[0, 5, 10], xlabel="t", logy=True)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["x", "y"]
    assert list(ax.lines[1].get_xdata()) == [0, 5, 10]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "t"
