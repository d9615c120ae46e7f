"""The training loss: plain MSE, or min-SNR-gamma weighted (Hang et al. 2023) per prediction."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler

from diffusion_course.train import diffusion_loss

GAMMA = 5.0


def batch(kind: str, zero_snr: bool = False):
    scheduler = DDPMScheduler(
        beta_schedule="squaredcos_cap_v2", prediction_type=kind, rescale_betas_zero_snr=zero_snr
    )
    g = torch.Generator().manual_seed(0)
    clean, noise, prediction = (torch.randn(4, 1, 8, 8, generator=g) for _ in range(3))
    t = torch.tensor([0, 300, 900, 999])
    return scheduler, prediction, clean, noise, t


def target(scheduler, clean, noise, t):
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    return scheduler.get_velocity(clean, noise, t) if kind == "v_prediction" else clean


def per_image_error(scheduler, prediction, clean, noise, t):
    return ((prediction - target(scheduler, clean, noise, t)) ** 2).mean(dim=(1, 2, 3))


@pytest.mark.parametrize("kind", ["epsilon", "v_prediction", "sample"])
def test_without_gamma_it_is_the_plain_mse(kind):
    scheduler, prediction, clean, noise, t = batch(kind)
    expected = per_image_error(scheduler, prediction, clean, noise, t).mean()
    torch.testing.assert_close(diffusion_loss(prediction, clean, noise, t, scheduler), expected)


@pytest.mark.parametrize(
    ("kind", "factor"),
    [
        ("epsilon", lambda snr: torch.minimum(snr, torch.tensor(GAMMA)) / snr),
        ("v_prediction", lambda snr: torch.minimum(snr, torch.tensor(GAMMA)) / (snr + 1)),
        ("sample", lambda snr: torch.minimum(snr, torch.tensor(GAMMA))),
    ],
)
def test_min_snr_weights_each_image_as_its_x0_error_times_min_snr_gamma(kind, factor):
    scheduler, prediction, clean, noise, t = batch(kind)
    abar = scheduler.alphas_cumprod[t].double()
    snr = abar / (1 - abar)
    errors = per_image_error(scheduler, prediction, clean, noise, t).double()
    expected = (errors * factor(snr)).mean().float()
    got = diffusion_loss(prediction, clean, noise, t, scheduler, GAMMA)
    torch.testing.assert_close(got, expected)


def test_epsilon_weight_is_one_at_the_noisiest_step_and_finite_at_zero_snr():
    """min(SNR, gamma) / SNR is 1 wherever SNR < gamma, down to SNR = 0 (zero terminal SNR)."""
    scheduler, prediction, clean, noise, _ = batch("epsilon")
    t = torch.tensor([999] * 4)
    assert scheduler.alphas_cumprod[999] / (1 - scheduler.alphas_cumprod[999]) < 1e-8
    plain = diffusion_loss(prediction, clean, noise, t, scheduler)
    torch.testing.assert_close(diffusion_loss(prediction, clean, noise, t, scheduler, GAMMA), plain)
    scheduler, prediction, clean, noise, _ = batch("epsilon", zero_snr=True)
    loss = diffusion_loss(prediction, clean, noise, t, scheduler, GAMMA)
    assert torch.isfinite(loss)
    torch.testing.assert_close(loss, diffusion_loss(prediction, clean, noise, t, scheduler))
