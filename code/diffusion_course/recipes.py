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


def noise_scheduler(
    num_train_timesteps: int, beta_schedule: str, prediction_type: str, zero_snr: bool = False
) -> DDPMScheduler:
    """The DDPMScheduler of a run; zero terminal SNR samples with 'trailing' timesteps, so the
    first sampling step starts at the pure-noise step (Lin et al. 2024, sec. 3.3)."""
    return DDPMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=beta_schedule,
        prediction_type=prediction_type,
        rescale_betas_zero_snr=zero_snr,
        timestep_spacing="trailing" if zero_snr else "leading",
    )


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
    ema_power: float = 0.75
    snr_gamma: float | None = None
    zero_snr: bool = False
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
        return noise_scheduler(
            self.num_train_timesteps, self.beta_schedule, self.prediction_type, self.zero_snr
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
        ] + self._optional_args()  # fmt: skip

    def _optional_args(self) -> list[str]:
        """Flags of the study's extra factors, only when they differ from the defaults."""
        extra = []
        if self.ema_power != 0.75:
            extra += ["--ema-power", str(self.ema_power)]
        if self.snr_gamma:
            extra += ["--snr-gamma", str(self.snr_gamma)]
        if self.zero_snr:
            extra.append("--rescale-betas-zero-snr")
        return extra

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

# Candidates of the study in benchmarks/train_benchmark.py: each changes one factor of the
# baseline (the CHAPTER_RECIPE above); the benchmark sizes max_train_steps from the measured
# speed so that the lr schedule ends at the last CPU-minute mark.
_BASE = replace(_CHAPTER_CPU, name="base")
BENCHMARK_RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        _BASE,
        replace(_BASE, name="v", prediction_type="v_prediction"),
        replace(_BASE, name="x0", prediction_type="sample"),
        replace(_BASE, name="eps-minsnr5", snr_gamma=5.0),
        replace(_BASE, name="v-minsnr5", prediction_type="v_prediction", snr_gamma=5.0),
        replace(_BASE, name="v-zsnr", prediction_type="v_prediction", zero_snr=True),
        replace(_BASE, name="lr2e-3", learning_rate=2e-3),
        replace(_BASE, name="lr5e-4", learning_rate=5e-4),
        replace(_BASE, name="warmup0", lr_warmup_steps=0),
        replace(_BASE, name="batch32", batch_size=32),
        replace(_BASE, name="batch128", batch_size=128),
        replace(_BASE, name="ema-power0.5", ema_power=0.5),
        replace(_BASE, name="ema-power0.9", ema_power=0.9),
        replace(_BASE, name="small", model="small"),
    )
}

__all__ = ["BENCHMARK_RECIPES", "CHAPTER_RECIPE", "Recipe", "noise_scheduler"]
