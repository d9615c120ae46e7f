"""Training recipes measured by ``benchmarks/train_benchmark.py``.

``CHAPTER_RECIPE`` is the recipe that gave the best sample quality after a 2-minute CPU budget
in the benchmark (see ``benchmarks/results.md``); the chapter "Introduction to Diffusers" builds
its model, noise scheduler and training loop from it. ``CHAPTER_RECIPE.gpu`` is a larger variant
for a Colab GPU, where the same minutes buy many more steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from diffusers import DDPMScheduler, UNet2DModel

from diffusion_course.presets import build_unet, unet_kwargs


@dataclass(frozen=True)
class Recipe:
    """Everything the chapter's loop needs; ``train_args`` gives the same run as a command."""

    name: str
    model: str = "tiny"
    prediction_type: str = "epsilon"
    beta_schedule: str = "linear"
    learning_rate: float = 1e-3
    lr_scheduler: str = "cosine"
    lr_warmup_steps: int = 100
    batch_size: int = 64
    use_ema: bool = True
    ema_max_decay: float = 0.999
    max_train_steps: int = 1000
    resolution: int = 16
    channels: int = 1
    num_train_timesteps: int = 1000
    gpu: Recipe | None = field(default=None, compare=False)

    def unet_kwargs(self) -> dict[str, Any]:
        return unet_kwargs(self.model, self.resolution, self.channels)

    def build_unet(self) -> UNet2DModel:
        return build_unet(self.model, self.resolution, self.channels)

    def noise_scheduler(self) -> DDPMScheduler:
        return DDPMScheduler(
            num_train_timesteps=self.num_train_timesteps,
            beta_schedule=self.beta_schedule,
            prediction_type=self.prediction_type,
        )

    def train_args(self, output_dir: str) -> list[str]:
        """Command-line arguments of ``diffusion_course.train`` for this recipe."""
        return [
            "--output-dir", output_dir,
            "--model", self.model,
            "--prediction-type", self.prediction_type,
            "--beta-schedule", self.beta_schedule,
            "--learning-rate", str(self.learning_rate),
            "--lr-scheduler", self.lr_scheduler,
            "--lr-warmup-steps", str(self.lr_warmup_steps),
            "--train-batch-size", str(self.batch_size),
            "--max-train-steps", str(self.max_train_steps),
            "--resolution", str(self.resolution),
            "--channels", str(self.channels),
            "--num-train-timesteps", str(self.num_train_timesteps),
            "--ema-max-decay", str(self.ema_max_decay),
            "--ema" if self.use_ema else "--no-ema",
        ]  # fmt: skip

    def with_steps(self, steps: int) -> Recipe:
        return replace(self, max_train_steps=steps)


# From benchmarks/results.md: "eps-cosbeta" had the lowest FD after 2 CPU-minutes (one torch
# thread, ~363 images/s for the tiny UNet), reached at step 802. Its lead over the linear-beta
# and v-prediction recipes is within the FD noise printed there; its clear wins are the cosine
# beta schedule at 1 minute and EMA at 1-2 minutes. The GPU variant is not measured (this
# machine has no GPU): the 'small' UNet with attention, twice the batch and 5x the steps.
_CHAPTER_CPU = Recipe(
    name="chapter",
    model="tiny",
    prediction_type="epsilon",
    beta_schedule="squaredcos_cap_v2",
    learning_rate=1e-3,
    lr_scheduler="cosine",
    lr_warmup_steps=100,
    batch_size=64,
    use_ema=True,
    ema_max_decay=0.999,
    max_train_steps=802,
)
CHAPTER_RECIPE = replace(
    _CHAPTER_CPU,
    gpu=replace(
        _CHAPTER_CPU,
        name="chapter-gpu",
        model="small",
        lr_warmup_steps=200,
        batch_size=128,
        max_train_steps=4000,
    ),
)

__all__ = ["CHAPTER_RECIPE", "Recipe"]
