"""DDPM written from scratch: the noise schedule, the forward process and one sampling step.

The chapter "Diffusion models from scratch" displays these functions on the page and checks them
against diffusers' ``DDPMScheduler``; the tests check them across schedules, timesteps,
prediction targets and variance types. They follow the DDPM paper's equations in plain torch,
one line per equation where possible, so that a learner can read them next to the paper and
recognise the same quantities inside any library.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")
VARIANCE_TYPES = ("fixed_small", "fixed_large")


def beta_schedule(
    name: str,
    num_train_timesteps: int = 1000,
    beta_start: float = 0.0001,
    beta_end: float = 0.02,
) -> torch.Tensor:
    """The variance beta_t added at each forward step t = 0 .. T-1, as a float32 tensor (T,).

    "linear" is the DDPM paper's choice; "scaled_linear" (linear in sqrt(beta)) is Stable
    Diffusion's; "squaredcos_cap_v2" is the cosine schedule of Nichol & Dhariwal, defined through
    alpha_bar(t) = cos^2(...) so that the signal fades evenly instead of vanishing early.
    """
    if name == "linear":
        return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)
    if name == "scaled_linear":
        roots = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps)
        return roots.float() ** 2
    if name == "squaredcos_cap_v2":
        return _cosine_betas(num_train_timesteps)
    raise ValueError(f"unknown beta schedule {name!r}; choose one of {', '.join(SCHEDULES)}")


def _cosine_betas(num_train_timesteps: int, max_beta: float = 0.999) -> torch.Tensor:
    """beta_t = 1 - alpha_bar(t+1) / alpha_bar(t), capped so the last steps stay finite."""

    def alpha_bar(u: float) -> float:
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    t = num_train_timesteps
    betas = [min(1 - alpha_bar((i + 1) / t) / alpha_bar(i / t), max_beta) for i in range(t)]
    return torch.tensor(betas, dtype=torch.float32)


def alphas_cumprod(betas: torch.Tensor) -> torch.Tensor:
    """alpha_bar_t = prod_{s<=t} (1 - beta_s): the share of signal variance left at step t."""
    return torch.cumprod(1.0 - betas, dim=0)


def _per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Reshape one value per sample (N,) to (N, 1, 1, ...) so it broadcasts over an image."""
    return values.reshape(-1, *([1] * (like.ndim - 1)))


def add_noise(
    x0: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor, alpha_bar: torch.Tensor
) -> torch.Tensor:
    """The forward process in one jump: x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) noise.

    Because the Gaussian steps compose, training never has to simulate t small steps: any noise
    level is reached directly from the clean image.
    """
    a = _per_sample(alpha_bar.to(x0.device, x0.dtype)[timesteps.to(x0.device)], x0)
    return a**0.5 * x0 + (1 - a) ** 0.5 * noise


def inference_timesteps(num_inference_steps: int, num_train_timesteps: int = 1000) -> list[int]:
    """Evenly spaced timesteps from high to low ("leading" spacing: 0, k, 2k, ... reversed).

    Sampling with fewer steps than training simply jumps from one of these timesteps to the
    next; ddpm_step works for any pair (t, prev_t).
    """
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(f"num_inference_steps must be 1 to {num_train_timesteps}")
    ratio = num_train_timesteps // num_inference_steps
    return [i * ratio for i in reversed(range(num_inference_steps))]


class DDPMStep(NamedTuple):
    """The result of one reverse step: x_{prev_t} and the model's estimate of x0 at step t."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


def predicted_x0(
    model_output: torch.Tensor,
    sample: torch.Tensor,
    alpha_bar_t: torch.Tensor,
    prediction_type: str,
) -> torch.Tensor:
    """Turn whatever the network predicts (noise, clean image or v) into an estimate of x0.

    The three targets carry the same information given x_t and alpha_bar_t; they differ in how
    well-scaled the regression problem is at each noise level. For noise this is eq. 15 of the
    DDPM paper: x0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t).
    """
    if prediction_type == "epsilon":
        return (sample - (1 - alpha_bar_t) ** 0.5 * model_output) / alpha_bar_t**0.5
    if prediction_type == "sample":
        return model_output
    if prediction_type == "v_prediction":
        return alpha_bar_t**0.5 * sample - (1 - alpha_bar_t) ** 0.5 * model_output
    raise ValueError(f"unknown prediction type {prediction_type!r}; choose {PREDICTION_TYPES}")


def ddpm_step(
    model_output: torch.Tensor,
    t: int,
    sample: torch.Tensor,
    alpha_bar: torch.Tensor,
    prev_t: int | None = None,
    prediction_type: str = "epsilon",
    variance_type: str = "fixed_small",
    clip_sample: bool = True,
    generator: torch.Generator | None = None,
) -> DDPMStep:
    """One reverse step x_t -> x_{prev_t}: a sample of the posterior q(x_prev | x_t, x0).

    The stages follow ``DDPMScheduler.step``; its names are in the comments. Equation numbers
    are those of the DDPM paper (Ho et al., 2020). x0 is unknown, so the network's estimate
    takes its place. Noise is drawn only when t > 0, as diffusers does, so the same generator
    gives the same samples.
    """
    if variance_type not in VARIANCE_TYPES:
        raise ValueError(f"unknown variance type {variance_type!r}; choose {VARIANCE_TYPES}")
    prev_t = t - 1 if prev_t is None else prev_t

    # 1. Schedule values. A jump from t to prev_t acts like one step with this alpha_t.
    abar_t = alpha_bar[t]  # alpha_prod_t
    abar_prev = alpha_bar[prev_t] if prev_t >= 0 else torch.tensor(1.0)  # alpha_prod_t_prev
    alpha_t = abar_t / abar_prev  # current_alpha_t
    beta_t = 1 - alpha_t  # current_beta_t

    # 2. Estimate x0 from the network's output (eq. 15 for noise).
    x0 = predicted_x0(model_output, sample, abar_t, prediction_type)  # pred_original_sample
    if clip_sample:
        x0 = x0.clamp(-1.0, 1.0)

    # 3. Posterior mean (eq. 7): a blend of the x0 estimate and x_t. For predicted noise and
    #    no clipping it equals eq. 11, (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t).
    x0_coef = abar_prev**0.5 * beta_t / (1 - abar_t)  # pred_original_sample_coeff
    xt_coef = alpha_t**0.5 * (1 - abar_prev) / (1 - abar_t)  # current_sample_coeff
    mean = x0_coef * x0 + xt_coef * sample  # pred_prev_sample before noise
    if t == 0:
        return DDPMStep(mean, x0)

    # 4. Posterior variance (eq. 7's beta tilde), or beta_t itself ("fixed_large").
    if variance_type == "fixed_small":
        variance = ((1 - abar_prev) / (1 - abar_t) * beta_t).clamp(min=1e-20)
    else:
        variance = beta_t

    # 5. Add noise of that variance, drawn on the generator's device (variance_noise).
    device = generator.device if generator is not None else sample.device
    noise = torch.randn(model_output.shape, generator=generator, device=device, dtype=sample.dtype)
    noise = noise.to(sample.device)
    return DDPMStep(mean + variance**0.5 * noise, x0)


__all__ = [
    "DDPMStep",
    "PREDICTION_TYPES",
    "SCHEDULES",
    "VARIANCE_TYPES",
    "add_noise",
    "alphas_cumprod",
    "beta_schedule",
    "ddpm_step",
    "inference_timesteps",
    "predicted_x0",
]
