"""CHAPTER_RECIPE is the benchmark's best recipe at 2 minutes, and it builds and trains."""

from __future__ import annotations

import csv
import dataclasses

from _train_helpers import REPO

from diffusion_course.options import parse_args, validate_config
from diffusion_course.recipes import BENCHMARK_RECIPES, CHAPTER_RECIPE, Recipe

SETTINGS = ("model", "prediction_type", "beta_schedule", "lr_scheduler", "learning_rate")


def test_chapter_recipe_is_the_best_at_two_minutes():
    with open(REPO / "benchmarks" / "results.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if float(r["minutes"]) == 2.0]
    best = min(rows, key=lambda r: float(r["fd"]))
    winner = BENCHMARK_RECIPES[best["recipe"].removesuffix("-no-ema")]
    for name in SETTINGS + ("train_batch_size", "lr_warmup_steps"):
        assert getattr(CHAPTER_RECIPE, name) == getattr(winner, name), name
    assert CHAPTER_RECIPE.use_ema == (best["ema"] == "True")
    assert CHAPTER_RECIPE.max_train_steps == int(best["steps"])


def test_chapter_recipe_builds_and_its_command_validates():
    unet = CHAPTER_RECIPE.build_unet()
    assert unet.config.sample_size == 16 and unet.config.in_channels == 1
    scheduler = CHAPTER_RECIPE.noise_scheduler()
    assert scheduler.config.prediction_type == CHAPTER_RECIPE.prediction_type
    config = parse_args(CHAPTER_RECIPE.train_args("out"))
    validate_config(config)
    assert config == CHAPTER_RECIPE.to_config("out")
    assert CHAPTER_RECIPE.train_args("out") == [
        "--output-dir", "out", "--beta-schedule", "squaredcos_cap_v2", "--max-train-steps", "802"
    ]  # fmt: skip


def test_every_benchmark_recipe_is_a_valid_config():
    for name, recipe in BENCHMARK_RECIPES.items():
        assert recipe.name == name
        validate_config(recipe.to_config("out"))
        assert parse_args(recipe.train_args("out")) == recipe.to_config("out")


def test_gpu_variant_is_bigger():
    gpu = CHAPTER_RECIPE.gpu
    assert isinstance(gpu, Recipe)
    size = lambda r: sum(p.numel() for p in r.build_unet().parameters())  # noqa: E731
    assert size(gpu) > size(CHAPTER_RECIPE)
    assert gpu.max_train_steps > CHAPTER_RECIPE.max_train_steps
    assert parse_args(gpu.train_args("out")) == gpu.to_config("out")
    validate_config(gpu.to_config("out"))
    assert dataclasses.replace(gpu, gpu=None).gpu is None
