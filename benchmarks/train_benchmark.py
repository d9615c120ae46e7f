"""Benchmark of the course's training script on this machine (not a test; run it by hand).

1. Throughput: images/s of the training loop (``diffusion_course.train``) per model preset.
2. Quality after fixed CPU budgets: for a few recipes (prediction type, beta schedule, EMA,
   lr schedule, model size) one run per recipe is scored with ``diffusion_course.metrics`` when
   its training time passes each mark (1, 2 and 5 minutes by default). The run's step count is
   sized from the measured throughput so its lr schedule ends at the last mark.

Time is *CPU time of this process divided by the torch thread count*: the minutes an idle
machine with that many cores would need. Other people's jobs on a shared machine then slow the
benchmark down without changing its results much (wall time would favour whichever recipe ran
while the machine was quiet). Evaluation time is excluded. EMA on/off is
   measured inside the EMA run by also scoring the raw (non-averaged) weights: EMA does not
   change training, only which weights are sampled.

Writes ``benchmarks/results.csv`` and ``benchmarks/results.md`` and prints the recipe with the
best FD at 2 minutes (the one ``diffusion_course.recipes.CHAPTER_RECIPE`` should hold).

    nohup nice -n 10 python benchmarks/train_benchmark.py > benchmarks/benchmark.log 2>&1 &
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from diffusion_course.evaluate import evaluate_pipeline
from diffusion_course.model_card import hardware_description
from diffusion_course.options import parse_args
from diffusion_course.recipes import BENCHMARK_RECIPES, Recipe
from diffusion_course.train import TrainingProgress, train

HERE = Path(__file__).parent
PRESETS = ("tiny", "small", "base")
RECIPES = tuple(BENCHMARK_RECIPES.values())
FIELDS = (
    "recipe", "model", "prediction_type", "beta_schedule", "lr_scheduler", "ema", "minutes",
    "steps", "train_seconds", "fd", "reference_fd", "confident_share", "class_coverage",
    "class_entropy",
)  # fmt: skip


def run_args(recipe: Recipe, output_dir: str, extra: list[str]) -> list[str]:
    quiet = ["--checkpointing-steps", "0", "--eval-samples", "0", "--no-tensorboard"]
    return recipe.train_args(output_dir) + quiet + ["--no-progress-bar"] + extra


def cpu_seconds() -> float:
    """CPU time of this process in 'idle machine' seconds (see the module docstring)."""
    return time.process_time() / torch.get_num_threads()


def throughput(preset: str, steps: int = 25, warmup: int = 5) -> tuple[float, float]:
    """Images/s of the training loop: (per CPU-normalised second, median wall-clock)."""
    recipe = Recipe(name=preset, model=preset, max_train_steps=steps)
    walls: list[float] = []
    cpus: list[float] = []
    last = [0.0, cpu_seconds()]

    def hook(progress: TrainingProgress) -> None:
        walls.append(progress.train_seconds - last[0])
        cpus.append(cpu_seconds() - last[1])
        last[:] = [progress.train_seconds, cpu_seconds()]

    with tempfile.TemporaryDirectory() as tmp:
        train(parse_args(run_args(recipe, f"{tmp}/run", [])), hooks=[hook])
    batch = recipe.batch_size
    return batch / statistics.median(cpus[warmup:]), batch / statistics.median(walls[warmup:])


@dataclass
class MarkEvaluator:
    """Hook that scores the model each time training time passes the next mark."""

    recipe: Recipe
    marks: list[float]
    eval_samples: int
    eval_steps: int
    rows: list[dict]
    used: float = 0.0
    last: float | None = None

    def __call__(self, progress: TrainingProgress) -> bool:
        """Score at each mark; return True (stop training) after the last one."""
        now = cpu_seconds()
        self.used += now - (self.last if self.last is not None else now)
        last_step = progress.step >= progress.total_steps
        while self.marks and (self.used >= self.marks[0] * 60 or last_step):
            self.evaluate(progress, self.marks.pop(0))
        self.last = cpu_seconds()  # evaluation time is not training time
        return not self.marks

    def evaluate(self, progress: TrainingProgress, minutes: float) -> None:
        variants = [True, False] if self.recipe.use_ema else [False]
        for use_ema in variants:
            report = evaluate_pipeline(
                progress.pipeline(use_ema=use_ema), self.eval_samples, self.eval_steps
            )
            row = {
                "recipe": self.recipe.name + ("" if use_ema else "-no-ema"),
                "model": self.recipe.model,
                "prediction_type": self.recipe.prediction_type,
                "beta_schedule": self.recipe.beta_schedule,
                "lr_scheduler": self.recipe.lr_scheduler,
                "ema": use_ema,
                "minutes": minutes,
                "steps": progress.step,
                "train_seconds": round(self.used, 1),
                **{k: round(v, 4) for k, v in report.to_dict().items() if k != "num_samples"},
            }
            self.rows.append(row)
            print(
                f"{row['recipe']:28s} {minutes:4.1f} min step {progress.step:5d}  {report}",
                flush=True,
            )


def quality_run(recipe: Recipe, marks: list[float], speed: float, args) -> list[dict]:
    """Train one recipe for the last mark's budget and score it at every mark."""
    steps = max(10, int(speed * marks[-1] * 60 / recipe.batch_size))
    rows: list[dict] = []
    hook = MarkEvaluator(recipe, list(marks), args.eval_samples, args.eval_steps, rows)
    with tempfile.TemporaryDirectory() as tmp:
        train(parse_args(run_args(recipe.with_steps(steps), f"{tmp}/run", [])), [hook])
    return rows


def write_results(speeds: dict, rows: list[dict], marks: list[float], args, info: dict) -> str:
    with open(HERE / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    best = pick_best(rows, 2.0 if 2.0 in marks else marks[-1])
    lines = [
        "# Training benchmark",
        "",
        f"Machine: {info['hardware']}; torch {torch.__version__}. Load average before/after: "
        f"{info['load_before']} / {info['load_after']} (other jobs shared the CPU, so the "
        "timings are indicative). Written by `benchmarks/train_benchmark.py` in "
        f"{info['minutes']:.0f} min.",
        "",
        "## Throughput of the training loop (16x16 greyscale, batch 64)",
        "",
        "| model preset | parameters | images/s (CPU-normalised) | images/s (wall clock) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for preset, (speed, wall, params) in speeds.items():
        lines.append(f"| `{preset}` | {params / 1e6:.2f} M | {speed:.0f} | {wall:.0f} |")
    lines += [
        "",
        f"## Sample quality after a fixed CPU training time ({args.eval_samples} samples, "
        f"{args.eval_steps} DDPM sampling steps)",
        "",
        "Minutes are CPU time / torch threads (what an idle machine with this many cores would "
        "take), evaluation excluded.",
        "",
        "FD: Fréchet distance to held-out digits in the course classifier's feature space "
        f"(lower is better; real vs real at this sample count: {rows[0]['reference_fd']:.1f}). "
        "confident: share of samples read with p >= 0.9. classes: digits with >= 2.5% of "
        "samples. Each recipe is one run whose lr schedule spans the last budget; `-no-ema` "
        "rows score the same run's raw weights.",
        "",
        "| recipe | model | prediction | beta schedule | lr schedule | EMA | "
        + " | ".join(f"{m:g} min: FD / confident / classes" for m in marks)
        + " |",
        "| --- | --- | --- | --- | --- | --- |" + " ---: |" * len(marks),
    ]
    for name in dict.fromkeys(r["recipe"] for r in rows):
        rs = [r for r in rows if r["recipe"] == name]
        r0 = rs[0]
        cells = []
        for m in marks:
            hit = [r for r in rs if r["minutes"] == m]
            cells.append(
                f"{hit[0]['fd']:.0f} / {hit[0]['confident_share']:.0%} / "
                f"{hit[0]['class_coverage']} (step {hit[0]['steps']})"
                if hit
                else "–"
            )
        lines.append(
            f"| {name} | {r0['model']} | {r0['prediction_type']} | {r0['beta_schedule']} | "
            f"{r0['lr_scheduler']} | {'on' if r0['ema'] else 'off'} | " + " | ".join(cells) + " |"
        )
    lines += ["", fd_noise_line(args.eval_samples), ""]
    lines += ["", f"Best at 2 min (lowest FD): **{best['recipe']}** (FD {best['fd']:.1f}).", ""]
    text = "\n".join(lines)
    (HERE / "results.md").write_text(text, encoding="utf-8")
    return best["recipe"]


def fd_noise_line(num_samples: int, seeds: int = 5) -> str:
    """How much FD moves between equally good sample sets: real-vs-real over random subsets."""
    import numpy as np

    from diffusion_course.metrics import reference_fd

    values = np.array([reference_fd(num_samples, seed) for seed in range(seeds)])
    return (
        f"FD noise: real-vs-real FD over {seeds} random subsets of {num_samples} training "
        f"digits is {values.mean():.1f} ± {values.std(ddof=1):.1f} (sd); differences of that "
        "size between recipes are not meaningful."
    )


def pick_best(rows: list[dict], minutes: float) -> dict:
    at = [r for r in rows if r["minutes"] == minutes] or rows
    return min(at, key=lambda r: r["fd"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marks", type=float, nargs="+", default=[1.0, 2.0, 5.0])
    parser.add_argument("--eval-samples", type=int, default=256)
    parser.add_argument("--eval-steps", type=int, default=50)
    parser.add_argument("--recipes", nargs="*", help="names to run (default: all)")
    args = parser.parse_args()
    started = time.time()
    info = {"hardware": hardware_description(), "load_before": _load()}
    from diffusion_course.presets import build_unet

    speeds = {}
    for preset in PRESETS:
        params = sum(p.numel() for p in build_unet(preset, 16, 1).parameters())
        speeds[preset] = (*throughput(preset), params)
        print(f"throughput {preset}: {speeds[preset][:2]} images/s (cpu, wall)", flush=True)
    rows: list[dict] = []
    for recipe in RECIPES:
        if args.recipes and recipe.name not in args.recipes:
            continue
        rows += quality_run(recipe, sorted(args.marks), speeds[recipe.model][0], args)
    info.update(load_after=_load(), minutes=(time.time() - started) / 60)
    best = write_results(speeds, rows, sorted(args.marks), args, info)
    print(f"best recipe at 2 min: {best}; wrote {HERE / 'results.md'}")


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
