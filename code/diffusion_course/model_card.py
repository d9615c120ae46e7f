"""The README.md model card saved beside every trained pipeline.

It records what a reader needs to reproduce or trust the model: the exact command(s), the seed,
training time, the hardware, the settings and the sample-quality metric with its reference.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from diffusion_course.metrics import METRIC_NOTE


def hardware_description() -> str:
    """One line naming the accelerator or CPU model, core count and torch threads."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU {cpu}, {cores} cores, {torch.get_num_threads()} torch threads"


def _format_minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def render_model_card(state: dict, metric: str | None, repo_id: str | None = None) -> str:
    """Markdown with YAML front matter, from the trainer state written with each checkpoint."""
    config = state["config"]
    commands = "\n".join(state.get("commands", []))
    processes = state.get("num_processes", 1)
    settings = "\n".join(
        f"| `{key}` | `{config[key]}` |"
        for key in sorted(config)
        if key not in ("argv", "output_dir", "push_to_hub", "progress_bar")
    )
    name = repo_id or Path(config["output_dir"]).name
    usage = repo_id or "PATH_TO_THIS_FOLDER"
    return f"""---
library_name: diffusers
license: apache-2.0
tags:
- unconditional-image-generation
- diffusion-models-class
- ddpm
pipeline_tag: unconditional-image-generation
---

# {name}

An unconditional DDPM (`UNet2DModel` + `DDPMScheduler`) trained with the Diffusion Models
Course script `diffusion_course.train` on `{config["data_source"]}` at
{config["resolution"]}x{config["resolution"]} pixels, {config["channels"]} channel(s).

## Usage

```python
from diffusers import DDPMPipeline

pipeline = DDPMPipeline.from_pretrained("{usage}")
images = pipeline(batch_size=16, num_inference_steps=100).images
```

## Training

Command{"s (the run was resumed)" if commands.count(chr(10)) else ""}:

```bash
{commands}
```

- seed: {config["seed"]}
- optimizer steps: {state["step"]} (batch {config["train_batch_size"]} x
  {config["gradient_accumulation_steps"]} accumulation x {processes} process(es))
- training time: {_format_minutes(state.get("train_seconds", 0.0))}; wall time including
  sampling and checkpoints: {_format_minutes(state.get("wall_seconds", 0.0))}
- hardware: {state.get("hardware", hardware_description())}
- software: torch {torch.__version__}, diffusers {state.get("diffusers_version", "?")}

## Sample quality

{metric or "Not measured (the metric is defined for the 16x16 greyscale digits)."}

{METRIC_NOTE}

## All settings

| option | value |
| --- | --- |
{settings}
"""


__all__ = ["hardware_description", "render_model_card"]
