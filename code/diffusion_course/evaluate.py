"""Sample a saved pipeline and score it with the digits metric.

Usage::

    python -m diffusion_course.evaluate PIPELINE_DIR --num-samples 256 --steps 100

It prints one line such as ``KID 12.34 [9.87, 15.02] (real vs real 0.41 [-2.10, 3.30]) |
recognizable 91% [88%, 94%] (real 99% [98%, 100%]) | classes 10/10`` (see ``metrics.py``).
``--sampler ddim`` or ``dpm`` samples with DDIM or DPM-Solver++ instead of the pipeline's own
DDPM scheduler (see ``with_sampler``). ``--compare OTHER_DIR`` also samples a second pipeline
from the same initial noise and prints the paired difference (this minus other, see
``metrics.compare_samples``): the way to tell whether a retrained model is really better.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from diffusers import DDIMScheduler, DDPMPipeline, DPMSolverMultistepScheduler

from diffusion_course.device import get_device
from diffusion_course.errors import UsageError
from diffusion_course.metrics import QualityReport, compare_samples, evaluate_samples

SAMPLERS = ("ddpm", "ddim", "dpm")


def with_sampler(pipeline: DDPMPipeline, sampler: str = "ddpm") -> DDPMPipeline:
    """The same UNet with another sampler: DDIM (eta 0) on 'trailing' timesteps, which start at
    the noisiest step, or DPM-Solver++ (2nd order) on the training scheduler's own spacing
    (from the very last step of a cosine schedule its first step diverges); 'ddpm' keeps the
    pipeline as it is."""
    if sampler == "ddpm":
        return pipeline
    config = pipeline.scheduler.config
    if sampler == "ddim":
        scheduler = DDIMScheduler.from_config(config, timestep_spacing="trailing")
    elif sampler == "dpm":
        scheduler = DPMSolverMultistepScheduler.from_config(config)
    else:
        raise ValueError(f"unknown sampler {sampler!r}; choose one of {SAMPLERS}")
    return DDPMPipeline(unet=pipeline.unet, scheduler=scheduler)


@torch.no_grad()
def generate(
    pipeline: DDPMPipeline,
    num_images: int,
    num_inference_steps: int = 100,
    seed: int = 0,
    batch_size: int = 256,
) -> torch.Tensor:
    """Sample ``num_images`` images (N, C, H, W) in [-1, 1] with a seeded generator."""
    pipeline.set_progress_bar_config(disable=True)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    chunks = []
    for start in range(0, num_images, batch_size):
        n = min(batch_size, num_images - start)
        out = pipeline(
            batch_size=n,
            generator=generator,
            num_inference_steps=num_inference_steps,
            output_type="np",
        ).images
        chunks.append(torch.from_numpy(out).permute(0, 3, 1, 2) * 2 - 1)
    return torch.cat(chunks).float()


def evaluate_pipeline(
    pipeline: DDPMPipeline,
    num_samples: int = 256,
    steps: int = 100,
    seed: int = 0,
    sampler: str = "ddpm",
) -> QualityReport:
    """Generate ``num_samples`` digits and return their :class:`QualityReport`."""
    images = generate(with_sampler(pipeline, sampler), num_samples, steps, seed)
    return evaluate_samples(images, seed=seed)


def check_pipeline_dir(path: str | Path) -> Path:
    """The folder, if it holds a saved pipeline; else a one-line UsageError."""
    folder = Path(path)
    if not (folder / "model_index.json").is_file():
        raise UsageError(
            f"{folder} is not a saved pipeline (no model_index.json); "
            "pass the --output-dir of a finished training run"
        )
    return folder


def load_pipeline(path: str | Path, device: torch.device | str | None = None) -> DDPMPipeline:
    """Load a saved DDPMPipeline folder, with a one-line error if it is not one."""
    folder = check_pipeline_dir(path)
    pipeline = DDPMPipeline.from_pretrained(str(folder), local_files_only=True)
    return pipeline.to(get_device(str(device) if device else None))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m diffusion_course.evaluate",
        description="Score a saved DDPMPipeline of 16x16 digits against the held-out digits.",
    )
    parser.add_argument("pipeline_dir")
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100, help="sampling steps")
    parser.add_argument("--sampler", choices=SAMPLERS, default="ddpm")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="cpu, cuda, ... (default: best available)")
    parser.add_argument(
        "--compare", metavar="OTHER_DIR", help="another saved pipeline: print this minus it, "
        "both sampled from the same initial noise",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.num_samples < 2 or args.steps < 1:
        print("error: --num-samples must be >= 2 and --steps >= 1", file=sys.stderr)
        return 2
    try:
        for folder in filter(None, (args.pipeline_dir, args.compare)):
            check_pipeline_dir(folder)  # both, before the slow part
        pipeline = load_pipeline(args.pipeline_dir, args.device)
        other = load_pipeline(args.compare, args.device) if args.compare else None
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setting = f"[{args.num_samples} samples, {args.sampler} {args.steps} steps, seed {args.seed}]"

    def sample(p: DDPMPipeline) -> torch.Tensor:
        return generate(with_sampler(p, args.sampler), args.num_samples, args.steps, args.seed)

    images = sample(pipeline)
    print(f"{evaluate_samples(images, seed=args.seed)}  {setting}")
    if other is not None:
        others = sample(other)
        print(f"{args.compare}: {evaluate_samples(others, seed=args.seed)}")
        print(f"this minus {args.compare}: {compare_samples(images, others, seed=args.seed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
