"""The model card (``README.md``) beside every trained pipeline: what a reader needs to reproduce
or trust the model (commands, seed, time, hardware, settings, the metric), with the metadata the
Hub shows (``ModelCardData``) and a usage example naming the Hub repo when the run is pushed.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch
from huggingface_hub import ModelCard, ModelCardData

from diffusion_course.metrics import METRIC_NOTE

HIDDEN_SETTINGS = ("output_dir", "push_to_hub", "progress_bar")


def hardware_description() -> str:
    """One line naming the accelerator or CPU model, core count and torch threads."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    cpuinfo = Path("/proc/cpuinfo")  # Linux names the model here, platform only the architecture
    text = cpuinfo.read_text() if cpuinfo.exists() else ""
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    cpu = found[1].strip() if found else platform.processor() or platform.machine()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU {cpu}, {cores} cores, {torch.get_num_threads()} torch threads"


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def model_card(state: dict, metric: str | None, repo_id: str | None = None) -> ModelCard:
    """The card of a finished run, from the trainer state written with each checkpoint."""
    config, commands = state["config"], state["commands"]
    data = ModelCardData(
        library_name="diffusers", license="apache-2.0",
        pipeline_tag="unconditional-image-generation",
        tags=["unconditional-image-generation", "diffusion-models-class", "ddpm"],
        datasets=[config["dataset_name"]] if config["dataset_name"] else None,
    )  # fmt: skip
    settings = [f"| `{k}` | `{v}` |" for k, v in sorted(config.items()) if k not in HIDDEN_SETTINGS]
    return ModelCard(f"""---
{data.to_yaml()}
---

# {repo_id or Path(config["output_dir"]).name}

An unconditional DDPM (`UNet2DModel` + `DDPMScheduler`) trained with the Diffusion Models
Course script `diffusion_course.train` on `{config["data_source"]}` at
{config["resolution"]}x{config["resolution"]} pixels, {config["channels"]} channel(s).

## Usage

```python
from diffusers import DDPMPipeline

pipeline = DDPMPipeline.from_pretrained("{repo_id or config["output_dir"]}")
images = pipeline(batch_size=16, num_inference_steps=100).images
```

## Training

Command{"s (the run was resumed)" if len(commands) > 1 else ""}:

```bash
{chr(10).join(commands)}
```

- seed: {config["seed"]}
- optimizer steps: {state["step"]} (batch {config["train_batch_size"]} x
  {config["gradient_accumulation_steps"]} accumulation x {state["num_processes"]} process(es))
- training time: {_minutes(state["train_seconds"])}; wall time including
  sampling and checkpoints: {_minutes(state["wall_seconds"])}
- hardware: {state["hardware"]}
- software: torch {torch.__version__}, diffusers {state["diffusers_version"]}

## Sample quality

{metric or "Not measured (the metric is defined for the 16x16 greyscale digits)."}

{METRIC_NOTE}

## All settings

| option | value |
| --- | --- |
{chr(10).join(settings)}
""")
