"""Score the study's snapshots and write the report (not a test; run it by hand).

The study trains each recipe of ``diffusion_course.recipes.BENCHMARK_RECIPES`` with
``benchmarks/study_run.py`` (one process per run and seed, one torch thread) and keeps its
weights after 1, 2 and 3 CPU-minutes. This script

1. ``score``: samples every snapshot with the same initial noise (seed 0, so all models are
   compared on common random numbers) and scores it with ``diffusion_course.metrics``;
   scores are cached in ``runs/scores.csv``;
2. ``report``: writes ``results.csv``, ``results.md``, ``results.zh.md`` and the plot
   ``quality_vs_minutes.png``: mean and 95 % interval over seeds per recipe and budget, the
   real-vs-real reference and the measured resolution of the benchmark.

    python benchmarks/train_benchmark.py score --watch   # while runs train
    python benchmarks/train_benchmark.py report
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMPipeline, UNet2DModel
from scipy import stats

from diffusion_course.evaluate import generate, with_sampler
from diffusion_course.metrics import QualityReport, evaluate_samples

HERE = Path(__file__).parent
RUNS = HERE / "runs"  # the main runs: lr schedule over 3 minutes, snapshots at 1, 2, 3
SCREEN = HERE / "runs1"  # the screening: one seed, lr schedule over 1 minute
SCORES = RUNS / "scores.csv"
EVAL_SAMPLES = 256
EVAL_SAMPLER = ("ddim", 25)
# the sampler study, on the final snapshot of seed 0 of the base recipe and the finalists
SAMPLER_VARIANTS = (("ddpm", 50), ("dpm", 20))
BASE_ONLY_VARIANTS = (("ddim", 10), ("ddim", 50), ("dpm", 10))
SCORE_FIELDS = (
    "recipe", "schedule", "seed", "minutes", "step", "weights", "sampler", "sampler_steps",
    "num_samples",
    "kid", "kid_low", "kid_high", "recognizable", "recognizable_low", "recognizable_high",
    "class_coverage", "class_entropy", "reference_kid", "reference_kid_low",
    "reference_kid_high", "reference_recognizable",
)  # fmt: skip


def snapshots() -> list[Path]:
    return sorted([*RUNS.glob("*/seed*/m*/mark.json"), *SCREEN.glob("*/seed*/m*/mark.json")])


def schedule(folder: Path) -> float:
    """Minutes the lr schedule of a snapshot's run spans (its last mark)."""
    marks = json.loads((folder.parent / "run.json").read_text())["marks"]
    return max(marks.values())


def load_snapshot(folder: Path, weights: str) -> DDPMPipeline:
    pipeline = DDPMPipeline.from_pretrained(str(folder), local_files_only=True)
    if weights == "raw":
        pipeline.unet = UNet2DModel.from_pretrained(str(folder / "raw"))
    return pipeline


def score_one(folder: Path, weights: str, sampler: tuple[str, int]) -> dict:
    """Sample and score one snapshot; the key columns say which."""
    mark = json.loads((folder / "mark.json").read_text())
    pipeline = with_sampler(load_snapshot(folder, weights), sampler[0])
    images = generate(pipeline, EVAL_SAMPLES, sampler[1], seed=0)
    report: QualityReport = evaluate_samples(images, seed=0)
    flat = report.to_dict()
    return {
        "recipe": folder.parent.parent.name,
        "schedule": schedule(folder),
        "seed": int(folder.parent.name.removeprefix("seed")),
        "minutes": mark["minutes"],
        "step": mark["step"],
        "weights": weights,
        "sampler": sampler[0],
        "sampler_steps": sampler[1],
        **{k: flat[k] for k in SCORE_FIELDS if k in flat},
    }


def read_scores() -> list[dict]:
    if not SCORES.exists():
        return []
    with open(SCORES, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in SCORE_FIELDS[1:]:
            if key not in ("weights", "sampler"):
                row[key] = float(row[key])
    latest = {score_key(row): row for row in rows}  # a snapshot scored twice counts once
    return list(latest.values())


def score_key(row: dict) -> tuple:
    return tuple(row[k] for k in SCORE_FIELDS[:8] if k != "step")


def append_score(row: dict) -> None:
    new = not SCORES.exists()
    with open(SCORES, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=SCORE_FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def wanted(folder: Path, finalists: set[str]) -> list[tuple[str, tuple[str, int]]]:
    """What to score for a snapshot: EMA weights with the standard sampler always; for seed 0
    of the base recipe and the finalists also the raw weights, and at the last mark the other
    samplers."""
    recipe = folder.parent.parent.name
    jobs = [("ema", EVAL_SAMPLER)]
    if folder.is_relative_to(SCREEN) or folder.parent.name != "seed0":
        return jobs
    if recipe == "base" or recipe in finalists:
        jobs.append(("raw", EVAL_SAMPLER))
        if folder.name == "m3":
            variants = SAMPLER_VARIANTS + (BASE_ONLY_VARIANTS if recipe == "base" else ())
            jobs += [("ema", s) for s in variants]
    return jobs


def score(watch: bool, finalists: set[str]) -> None:
    torch.set_num_threads(1)
    while True:
        done = {
            (r["recipe"], r["schedule"], int(r["seed"]), r["minutes"], r["weights"],
             r["sampler"], int(r["sampler_steps"]))
            for r in read_scores()
        }  # fmt: skip
        todo = []
        for mark_file in snapshots():
            folder = mark_file.parent
            minutes = json.loads(mark_file.read_text())["minutes"]
            seed = int(folder.parent.name.removeprefix("seed"))
            for weights, sampler in wanted(folder, finalists):
                key = (folder.parent.parent.name, schedule(folder), seed, minutes, weights,
                       *sampler)  # fmt: skip
                if key not in done:
                    todo.append((folder, weights, sampler))
        todo.sort(key=lambda job: (job[1], job[2]) != ("ema", EVAL_SAMPLER))  # main table first
        for folder, weights, sampler in todo:
            row = score_one(folder, weights, sampler)
            append_score(row)
            print(
                f"{row['recipe']:14s} seed {row['seed']} {row['minutes']:g} min {weights} "
                f"{sampler[0]}-{sampler[1]}: KID {row['kid']:.1f} "
                f"[{row['kid_low']:.1f}, {row['kid_high']:.1f}] rec {row['recognizable']:.0%}",
                flush=True,
            )
        if not watch:
            return
        if not todo:
            time.sleep(30)


def mean_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % t-interval over seeds (NaN bounds for a single seed)."""
    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return float(x.mean()), float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(x.mean() - half), float(x.mean() + half)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("score", "report"))
    parser.add_argument("--watch", action="store_true", help="keep scoring new snapshots")
    parser.add_argument("--finalists", nargs="*", default=[], help="recipes with several seeds")
    args = parser.parse_args()
    if args.command == "score":
        score(args.watch, set(args.finalists))
    else:
        from benchmark_report import write_report

        write_report(read_scores(), mean_interval)


if __name__ == "__main__":
    main()
