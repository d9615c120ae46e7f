"""Train one recipe of the study and save its weights at fixed CPU-minute marks.

    python benchmarks/study_run.py --calibrate            # once: CPU cost of a step
    python benchmarks/study_run.py RECIPE --seed 0 --marks 1 2 3

A CPU-minute is turned into a step count once, by ``--calibrate``: the median CPU time of a
training step (one torch thread) for each UNet size and batch size, saved in ``costs.json``.
Every run of a recipe then trains exactly ``minutes * 60 / cost`` steps, whatever the load of
the shared machine while it runs (on this machine the CPU time of a step itself grows with the
load, so timing each run separately would let the load pick the winner). The lr schedule ends
at the last mark. Each mark saves ``RUN/m{minutes}/`` (the EMA pipeline, the raw UNet under
``raw/`` and ``mark.json``); ``train_benchmark.py`` scores them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from diffusion_course.options import TrainConfig
from diffusion_course.recipes import BENCHMARK_RECIPES, Recipe
from diffusion_course.train import TrainingProgress, train


def run_config(recipe: Recipe, output_dir: str, seed: int) -> TrainConfig:
    """The recipe's run without checkpoints, score, TensorBoard or progress bar."""
    quiet = dict(checkpointing_steps=0, eval_samples=0, tensorboard=False, progress_bar=False)
    return recipe.to_config(output_dir, seed=seed, **quiet)


def cost_key(recipe: Recipe) -> str:
    return f"{recipe.model}/{recipe.batch_size}"


def calibrate(path: Path) -> dict[str, float]:
    """CPU seconds per step of every (model, batch size) the study uses; saved as JSON."""
    costs: dict[str, float] = {}
    for recipe in BENCHMARK_RECIPES.values():
        if cost_key(recipe) not in costs:
            costs[cost_key(recipe)] = round(seconds_per_step(recipe), 4)
            print(f"{cost_key(recipe)}: {costs[cost_key(recipe)] * 1000:.0f} ms/step", flush=True)
    costs["load_average"] = os.getloadavg()[0]
    path.write_text(json.dumps(costs, indent=1), encoding="utf-8")
    return costs


def seconds_per_step(recipe: Recipe, steps: int = 30, skip: int = 6) -> float:
    """Median CPU seconds of one optimizer step of this recipe (a throwaway short run)."""
    times: list[float] = []
    last = [time.process_time()]

    def hook(progress: TrainingProgress) -> None:
        now = time.process_time()
        times.append(now - last[0])
        last[0] = now

    with tempfile.TemporaryDirectory() as tmp:
        train(run_config(recipe.with_steps(steps), f"{tmp}/run", 0), hooks=[hook])
    return statistics.median(times[skip:])


@dataclass
class Snapshots:
    """Hook that saves the weights when training reaches the step count of each mark."""

    folder: Path
    marks: dict[int, float]  # step -> minutes
    used: float = 0.0
    last: float = field(default_factory=time.process_time)

    def __call__(self, progress: TrainingProgress) -> bool:
        self.used += time.process_time() - self.last
        if progress.step in self.marks:
            self.save(progress, self.marks.pop(progress.step))
        self.last = time.process_time()  # saving is not training time
        return not self.marks

    def save(self, progress: TrainingProgress, minutes: float) -> None:
        target = self.folder / f"m{minutes:g}"
        progress.pipeline(use_ema=True).save_pretrained(str(target))
        raw = progress.pipeline(use_ema=False).unet
        raw.save_pretrained(str(target / "raw"))
        meta = {"minutes": minutes, "step": progress.step, "cpu_seconds": round(self.used, 2)}
        (target / "mark.json").write_text(json.dumps(meta), encoding="utf-8")
        print(f"{self.folder.name} {minutes:g} min: step {progress.step}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", choices=sorted(BENCHMARK_RECIPES))
    parser.add_argument("--calibrate", action="store_true", help="measure costs.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--marks", type=float, nargs="+", default=[1.0, 2.0, 3.0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "runs"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    costs_path = Path(args.out) / "costs.json"
    if args.calibrate:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        calibrate(costs_path)
        return
    recipe = BENCHMARK_RECIPES[args.recipe]
    per_step = json.loads(costs_path.read_text())[cost_key(recipe)]
    marks = {max(1, round(m * 60 / per_step)): m for m in sorted(args.marks)}
    folder = Path(args.out) / f"{recipe.name}" / f"seed{args.seed}"
    folder.mkdir(parents=True, exist_ok=True)
    info = {"recipe": recipe.name, "seed": args.seed, "marks": marks, "sec_per_step": per_step}
    (folder / "run.json").write_text(json.dumps(info), encoding="utf-8")
    print(f"{recipe.name} seed {args.seed}: {per_step * 1000:.0f} ms/step, marks {marks}")
    with tempfile.TemporaryDirectory() as tmp:
        config = run_config(recipe.with_steps(max(marks)), f"{tmp}/run", args.seed)
        train(config, hooks=[Snapshots(folder, marks)])


if __name__ == "__main__":
    main()
