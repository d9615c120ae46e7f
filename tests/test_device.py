import torch

from diffusion_course import get_device, seed_everything


def test_get_device_honours_explicit_choice_and_environment(monkeypatch):
    assert get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("DIFFUSION_COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_get_device_falls_back_to_cpu_without_accelerators(monkeypatch):
    monkeypatch.delenv("DIFFUSION_COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device() == torch.device("cpu")


def test_get_device_prefers_cuda_when_present(monkeypatch):
    monkeypatch.delenv("DIFFUSION_COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda"


def test_seed_everything_makes_draws_repeatable():
    gen_a = seed_everything(7)
    first = (torch.randn(3), torch.randn(3, generator=gen_a))
    gen_b = seed_everything(7)
    second = (torch.randn(3), torch.randn(3, generator=gen_b))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    seed_everything(8)
    assert not torch.equal(torch.randn(3), first[0])
