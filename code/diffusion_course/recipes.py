"""Training recipes: named :class:`TrainConfig` s that the course measured or uses.

``BENCHMARK_RECIPES`` are the candidates ``benchmarks/train_benchmark.py`` compares.
``CHAPTER_RECIPE`` is the one that gave the best sample quality after a 2-minute CPU budget
(see ``benchmarks/results.md``); the chapter "Introduction to Diffusers" builds its model, noise
scheduler and training loop from it, and shows the same run as a command
(``CHAPTER_RECIPE.train_args(...)``). ``CHAPTER_RECIPE.gpu`` is a larger variant for a Colab GPU,
where the same minutes buy many more steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from diffusion_course.options import TrainConfig, settings


@dataclass(frozen=True)
class Recipe(TrainConfig):
    """A named set of training settings; every setting not given keeps the script's default."""

    name: str = "custom"
    gpu: Recipe | None = field(default=None, compare=False)

    @property
    def batch_size(self) -> int:
        """Short for ``train_batch_size`` (the chapter's DataLoader reads it)."""
        return self.train_batch_size

    def to_config(self, output_dir: str, **changes) -> TrainConfig:
        """This recipe as the config of a run that saves into ``output_dir``."""
        values = {f.name: getattr(self, f.name) for f in settings()}
        return TrainConfig(**(values | {"output_dir": output_dir} | changes))

    def train_args(self, output_dir: str) -> list[str]:
        """The same run as arguments of ``diffusion-course-train``."""
        return self.to_config(output_dir).to_argv()

    def with_steps(self, steps: int) -> Recipe:
        return replace(self, max_train_steps=steps)


BENCHMARK_RECIPES = {
    recipe.name: recipe
    for recipe in (
        Recipe(name="eps-linear-cosine-lr"),
        Recipe(name="eps-cosbeta", beta_schedule="squaredcos_cap_v2"),
        Recipe(name="v-cosbeta", prediction_type="v_prediction", beta_schedule="squaredcos_cap_v2"),
        Recipe(name="eps-linear-const-lr", lr_scheduler="constant_with_warmup"),
        Recipe(name="small-eps-linear", model="small"),
    )
}

# From benchmarks/results.md: "eps-cosbeta" had the lowest FD after 2 CPU-minutes (one torch
# thread, ~363 images/s for the tiny UNet), reached at step 802. Its lead over the linear-beta
# and v-prediction recipes is within the FD noise printed there; its clear wins are the cosine
# beta schedule at 1 minute and EMA at 1-2 minutes. The GPU variant is not measured (this
# machine has no GPU): the 'small' UNet with attention, twice the batch and 5x the steps.
_CHAPTER_CPU = replace(BENCHMARK_RECIPES["eps-cosbeta"], name="chapter", max_train_steps=802)
CHAPTER_RECIPE = replace(
    _CHAPTER_CPU,
    gpu=replace(
        _CHAPTER_CPU,
        name="chapter-gpu",
        model="small",
        lr_warmup_steps=200,
        train_batch_size=128,
        max_train_steps=4000,
    ),
)

__all__ = ["BENCHMARK_RECIPES", "CHAPTER_RECIPE", "Recipe"]
