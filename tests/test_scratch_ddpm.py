"""The from-scratch DDPM must agree with diffusers' DDPMScheduler wherever the chapter says so."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler

from diffusion_course.scratch_ddpm import (
    PREDICTION_TYPES,
    SCHEDULES,
    VARIANCE_TYPES,
    add_noise,
    alphas_cumprod,
    beta_schedule,
    ddpm_step,
    inference_timesteps,
)

ATOL = 1e-6


def reference(schedule: str, num_train_timesteps: int = 1000, **config) -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=schedule, **config)


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("num_train_timesteps", [10, 1000])
def test_schedule_matches_diffusers(schedule: str, num_train_timesteps: int) -> None:
    ref = reference(schedule, num_train_timesteps)
    betas = beta_schedule(schedule, num_train_timesteps)
    assert betas.dtype == torch.float32
    torch.testing.assert_close(betas, ref.betas, atol=ATOL, rtol=0)
    torch.testing.assert_close(alphas_cumprod(betas), ref.alphas_cumprod, atol=ATOL, rtol=0)


def test_custom_beta_range_matches_diffusers() -> None:
    ref = reference("scaled_linear", beta_start=0.00085, beta_end=0.012)
    ours = beta_schedule("scaled_linear", beta_start=0.00085, beta_end=0.012)
    torch.testing.assert_close(ours, ref.betas, atol=ATOL, rtol=0)


def test_unknown_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown beta schedule"):
        beta_schedule("sigmoid")


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_add_noise_matches_diffusers(schedule: str) -> None:
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(6, 1, 16, 16, generator=gen) * 2 - 1
    noise = torch.randn(x0.shape, generator=gen)
    timesteps = torch.tensor([0, 1, 250, 500, 998, 999])
    ref = reference(schedule)
    ours = add_noise(x0, noise, timesteps, alphas_cumprod(beta_schedule(schedule)))
    assert (ours - ref.add_noise(x0, noise, timesteps)).abs().max() < ATOL


def test_add_noise_keeps_unit_variance() -> None:
    """Signal and noise weights are chosen so that x_t stays at unit variance at every t."""
    gen = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(2, 20000, generator=gen)
    abar = alphas_cumprod(beta_schedule("linear"))
    for t in (0, 300, 999):
        x_t = add_noise(x0[None], noise[None], torch.tensor([t]), abar)
        assert abs(x_t.var().item() - 1) < 0.05


def step_both(
    schedule: str,
    t: int,
    prediction_type: str = "epsilon",
    variance_type: str = "fixed_small",
    clip_sample: bool = True,
    num_inference_steps: int | None = None,
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Run one step with diffusers and with ours on the same inputs and the same seed."""
    ref = reference(
        schedule,
        prediction_type=prediction_type,
        variance_type=variance_type,
        clip_sample=clip_sample,
    )
    prev_t = None
    if num_inference_steps is not None:
        ref.set_timesteps(num_inference_steps)
        steps = inference_timesteps(num_inference_steps)
        assert steps == ref.timesteps.tolist()
        i = steps.index(t)
        prev_t = steps[i + 1] if i + 1 < len(steps) else -1
    gen = torch.Generator().manual_seed(t)
    sample = torch.randn(4, 1, 8, 8, generator=gen)
    model_output = torch.randn(4, 1, 8, 8, generator=gen)
    theirs = ref.step(model_output, t, sample, generator=torch.Generator().manual_seed(7))
    ours = ddpm_step(
        model_output,
        t,
        sample,
        ref.alphas_cumprod,
        prev_t=prev_t,
        prediction_type=prediction_type,
        variance_type=variance_type,
        clip_sample=clip_sample,
        generator=torch.Generator().manual_seed(7),
    )
    return (theirs.prev_sample, theirs.pred_original_sample), tuple(ours)


def assert_same(pairs: tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]) -> None:
    for theirs, ours in zip(*pairs, strict=True):
        assert (theirs - ours).abs().max() < ATOL


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("t", [0, 1, 2, 500, 998, 999])
@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_step_matches_diffusers(schedule: str, t: int, prediction_type: str) -> None:
    assert_same(step_both(schedule, t, prediction_type))


@pytest.mark.parametrize("variance_type", VARIANCE_TYPES)
@pytest.mark.parametrize("clip_sample", [True, False])
@pytest.mark.parametrize("t", [0, 1, 500, 999])
def test_step_variants_match_diffusers(variance_type: str, clip_sample: bool, t: int) -> None:
    assert_same(step_both("linear", t, "epsilon", variance_type, clip_sample))


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize("num_inference_steps", [1, 7, 50])
def test_step_with_fewer_inference_steps(schedule: str, num_inference_steps: int) -> None:
    for t in inference_timesteps(num_inference_steps)[:: max(1, num_inference_steps // 5)]:
        assert_same(step_both(schedule, t, num_inference_steps=num_inference_steps))


def test_whole_sampling_loop_matches_diffusers() -> None:
    """Thirty steps in a row: the same generator stays in step with diffusers' draws."""
    ref = reference("squaredcos_cap_v2", prediction_type="v_prediction")
    ref.set_timesteps(30)
    steps = inference_timesteps(30)
    start = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))

    def fake_model(x: torch.Tensor, t: int) -> torch.Tensor:
        return torch.tanh(x) * (t / 1000)

    theirs, ours = start.clone(), start.clone()
    gen_theirs, gen_ours = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for i, t in enumerate(steps):
        prev_t = steps[i + 1] if i + 1 < len(steps) else -1
        theirs = ref.step(fake_model(theirs, t), t, theirs, generator=gen_theirs).prev_sample
        ours = ddpm_step(
            fake_model(ours, t),
            t,
            ours,
            ref.alphas_cumprod,
            prev_t,
            prediction_type="v_prediction",
            generator=gen_ours,
        ).prev_sample
    assert (theirs - ours).abs().max() < 1e-5
    assert torch.equal(gen_theirs.get_state(), gen_ours.get_state())


def test_step_refuses_unknown_options() -> None:
    abar = alphas_cumprod(beta_schedule("linear"))
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="prediction type"):
        ddpm_step(x, 5, x, abar, prediction_type="noise")
    with pytest.raises(ValueError, match="variance type"):
        ddpm_step(x, 5, x, abar, variance_type="learned")
    with pytest.raises(ValueError, match="num_inference_steps"):
        inference_timesteps(0)


def test_mean_for_predicted_noise_is_eq_11() -> None:
    """Without clipping, eq. 7's mean with eq. 15's x0 is eq. 11's mean in terms of the noise."""
    abar = alphas_cumprod(beta_schedule("linear"))
    x_t, eps = torch.randn(2, 2, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    t = 500
    alpha_t, beta_t = abar[t] / abar[t - 1], 1 - abar[t] / abar[t - 1]
    eq_11 = (x_t - beta_t / (1 - abar[t]) ** 0.5 * eps) / alpha_t**0.5
    step = ddpm_step(
        eps, t, x_t, abar, clip_sample=False, generator=torch.Generator().manual_seed(1)
    )
    z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(1))
    beta_tilde = (1 - abar[t - 1]) / (1 - abar[t]) * beta_t
    assert (step.prev_sample - (eq_11 + beta_tilde**0.5 * z)).abs().max() < 1e-5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA generator")
def test_noise_is_drawn_on_the_generators_device() -> None:
    """A CUDA generator with CPU tensors, as diffusers allows: the same draws as diffusers."""
    ref = reference("linear")
    x_t, eps = torch.randn(2, 2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    theirs = ref.step(eps, 500, x_t, generator=torch.Generator("cuda").manual_seed(3))
    ours = ddpm_step(
        eps, 500, x_t, ref.alphas_cumprod, generator=torch.Generator("cuda").manual_seed(3)
    )
    assert ours.prev_sample.device == x_t.device
    assert (theirs.prev_sample - ours.prev_sample).abs().max() < ATOL
