"""The Diffusers chapter's GPU branch, run on the CPU.

On Colab the chapter trains ``CHAPTER_RECIPE.gpu`` (a bigger UNet with attention, larger
batches), which the book, built on a CPU, never runs. ``Recipe.for_device``, the call the
chapter makes to choose its recipe, picks that variant on any device when
``DIFFUSION_COURSE_GPU_RECIPE_STEPS`` is set, with its steps cut; the slow test below executes
the chapter that way, so every cell that reads ``recipe`` meets the GPU settings. It leaves out
one section, the comparison of seven samplers: its cells read the trained UNet, not the recipe,
and on the GPU recipe's larger UNet they take two of the three minutes the chapter would take.
"""

from __future__ import annotations

import nbformat
import pytest
import torch
from _train_helpers import REPO
from notebooks import build_notebook, execute

from diffusion_course.recipes import CHAPTER_RECIPE, GPU_RECIPE_STEPS_ENV

PAGE = REPO / "book" / "en" / "unit1" / "01_introduction_to_diffusers.md"
SAMPLER_SECTION = "### Faster: seven samplers"
CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_for_device_picks_the_gpu_variant_on_cuda_only(monkeypatch):
    monkeypatch.delenv(GPU_RECIPE_STEPS_ENV, raising=False)
    assert CHAPTER_RECIPE.for_device(CUDA) == CHAPTER_RECIPE.gpu
    assert CHAPTER_RECIPE.for_device(CPU) == CHAPTER_RECIPE
    assert CHAPTER_RECIPE.gpu.for_device(CUDA) == CHAPTER_RECIPE.gpu  # no variant of its own


def test_environment_forces_the_gpu_variant_with_fewer_steps(monkeypatch):
    monkeypatch.setenv(GPU_RECIPE_STEPS_ENV, "3")
    for device in (CPU, CUDA):
        assert CHAPTER_RECIPE.for_device(device) == CHAPTER_RECIPE.gpu.with_steps(3)


@pytest.mark.parametrize("value", ["0", "-2", "five", "2.5"])
def test_bad_step_count_is_one_clear_error(monkeypatch, value):
    monkeypatch.setenv(GPU_RECIPE_STEPS_ENV, value)
    with pytest.raises(ValueError, match=f"{GPU_RECIPE_STEPS_ENV}=.* positive whole number"):
        CHAPTER_RECIPE.for_device(CPU)


def without_section(nb: nbformat.NotebookNode, heading: str) -> nbformat.NotebookNode:
    """The notebook without the code cells from ``heading`` to the next heading of its level."""
    level, kept, skipping, found = len(heading.split()[0]), [], False, False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                marks = line.split(" ", 1)[0]
                if line.startswith(heading):
                    skipping = found = True
                elif skipping and set(marks) == {"#"} and len(marks) <= level:
                    skipping = False
        if cell.cell_type == "markdown" or not skipping:
            kept.append(cell)
    assert found, f"no heading {heading!r} in the chapter"
    nb.cells = kept
    return nb


def printed_text(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed, in order."""
    outputs = [out for cell in nb.cells for out in cell.get("outputs", [])]
    return "".join(out.get("text", "") for out in outputs if out.get("output_type") == "stream")


@pytest.mark.slow
def test_chapter_runs_its_gpu_recipe_on_the_cpu(monkeypatch):
    steps, gpu = 4, CHAPTER_RECIPE.gpu
    monkeypatch.setenv(GPU_RECIPE_STEPS_ENV, str(steps))
    monkeypatch.setenv("DIFFUSION_COURSE_DEVICE", "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nb = without_section(build_notebook(PAGE, REPO), SAMPLER_SECTION)
    execute(nb, PAGE.parent)  # as tools/notebooks.py runs it; raises on a failing cell
    text = printed_text(nb)
    assert f"device: cpu | recipe: {gpu.name}\n" in text
    assert f"steps: {steps} | batch size: {gpu.batch_size} |" in text
    assert f"trained {steps} steps in" in text
    assert f"--model {gpu.model}" in text  # the training command is written from the GPU recipe
