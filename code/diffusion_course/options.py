"""Settings of a training run: one dataclass, from which the command line is generated.

Every field of :class:`TrainConfig` carries its help text (and choices or a range check), and
:func:`build_parser` turns the fields into ``argparse`` options, so each default is written once.
Option names are the field names with dashes (``train_batch_size`` -> ``--train-batch-size``);
the spellings of diffusers' ``train_unconditional.py`` (``--train_batch_size``,
``--train_data_dir``, ``--ddpm_num_steps``, ...) are accepted too. The same object is built in
code by the recipes, the benchmark and the chapters, saved beside each checkpoint (to refuse
resuming with an incompatible setup) and written into the model card.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import DDPMScheduler, UNet2DModel

from diffusion_course.errors import UsageError
from diffusion_course.presets import PRESETS, build_unet, min_resolution, unet_kwargs

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid")
LR_SCHEDULES = (
    "constant",
    "constant_with_warmup",
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
)
CONSTANT_LR = ("constant", "constant_with_warmup")
MIXED_PRECISION = ("no", "bf16", "fp16")
DEFAULT_MAX_STEPS = 1000

# diffusers' train_unconditional.py names that differ from ours by more than "_" vs "-".
DIFFUSERS_NAMES = {
    "--train_data_dir": "--data-dir",
    "--overwrite_output_dir": "--overwrite",
    "--ddpm_num_steps": "--num-train-timesteps",
    "--ddpm_beta_schedule": "--beta-schedule",
    "--ddpm_num_inference_steps": "--sample-inference-steps",
    "--resume_from_checkpoint": "--resume",
    "--hub_private_repo": "--hub-private",
}

# Settings that change the model, the noise process or the data order: a checkpoint saved with
# different values cannot be continued meaningfully, so --resume refuses it.
RESUME_KEYS = (
    "data_source",
    "resolution",
    "channels",
    "model",
    "prediction_type",
    "beta_schedule",
    "rescale_betas_zero_snr",
    "num_train_timesteps",
    "use_ema",
    "train_batch_size",
    "gradient_accumulation_steps",
    "lr_scheduler",
)


def _number(kind: type, ok: Callable[[Any], bool], rule: str) -> Callable[[str], Any]:
    """An ``argparse`` type that parses a number and checks its range."""

    def parse(text: str) -> Any:
        value = kind(text)
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse says "invalid int value: 'x'"
    return parse


positive_int = _number(int, lambda v: v > 0, "a positive integer")
non_negative_int = _number(int, lambda v: v >= 0, "0 or more")
positive_float = _number(float, lambda v: v > 0, "a positive number")
fraction = _number(float, lambda v: 0 < v < 1, "between 0 and 1, e.g. 0.999")


DATA = "data (default: the bundled handwritten digits)"
MODEL = "model and noise schedule"
OPTIM = "optimisation"
OUTPUT = "output, checkpoints and logging"


def setting(
    default: Any,
    help: str,
    group: str,
    *,
    type: Callable[[str], Any] | None = None,
    choices: Sequence[Any] | None = None,
    aliases: tuple[str, ...] = (),
    source: bool = False,
) -> Any:
    """A :class:`TrainConfig` field together with what ``argparse`` needs to offer it.

    ``type`` defaults to the type of ``default``; ``source`` marks the mutually exclusive data
    sources.
    """
    if type is None and not isinstance(default, bool):
        type = str if default is None else default.__class__
    metadata = {"help": help, "group": group, "type": type, "choices": choices}
    return field(default=default, metadata=metadata | {"aliases": aliases, "source": source})


@dataclass(frozen=True)
class TrainConfig:
    """All settings of one training run; ``diffusion-course-train --help`` lists them."""

    output_dir: str = setting("", "where the pipeline, checkpoints and logs are saved", OUTPUT)
    data_dir: str | None = setting(
        None, "a local folder of images (searched recursively)", DATA, source=True
    )
    dataset_name: str | None = setting(None, "a Hugging Face Hub dataset id", DATA, source=True)
    dataset_split: str = setting("train", "split of --dataset-name", DATA)
    image_column: str | None = setting(
        None, "image column of --dataset-name (default: the first image column)", DATA
    )
    resolution: int = setting(16, "image side in pixels", DATA, type=positive_int)
    channels: int = setting(1, "1 (greyscale) or 3 (colour)", DATA, choices=(1, 3))
    random_flip: bool = setting(False, "mirror images at random (not for digits)", DATA)
    dataloader_num_workers: int = setting(
        0, "processes that load images (0: the training process)", DATA, type=non_negative_int
    )
    model: str = setting("tiny", "UNet size preset", MODEL, choices=tuple(PRESETS))
    prediction_type: str = setting(
        "epsilon", "what the UNet predicts: noise, v or the clean image", MODEL,
        choices=PREDICTION_TYPES,
    )  # fmt: skip
    beta_schedule: str = setting(
        "linear", "noise schedule (squaredcos_cap_v2 is the cosine one)", MODEL,
        choices=BETA_SCHEDULES,
    )  # fmt: skip
    rescale_betas_zero_snr: bool = setting(
        False, "zero terminal SNR (Lin et al. 2024; needs v_prediction), trailing timesteps",
        MODEL,
    )  # fmt: skip
    num_train_timesteps: int = setting(
        1000, "noise levels of the forward process", MODEL, type=positive_int
    )
    snr_gamma: float | None = setting(
        None, "min-SNR-gamma loss weighting (Hang et al. 2023), e.g. 5; default: plain MSE",
        MODEL, type=positive_float,
    )  # fmt: skip
    train_batch_size: int = setting(
        64, "images per process and step", OPTIM, type=positive_int, aliases=("--batch-size",)
    )
    max_train_steps: int | None = setting(
        None, f"optimizer steps (default: {DEFAULT_MAX_STEPS} unless --num-epochs is given)",
        OPTIM, type=positive_int, aliases=("--max-steps",),
    )  # fmt: skip
    num_epochs: int | None = setting(None, "passes over the data", OPTIM, type=positive_int)
    max_minutes: float | None = setting(
        None, "stop after this much training time", OPTIM, type=positive_float
    )
    learning_rate: float = setting(
        1e-3, "peak learning rate of AdamW", OPTIM, type=positive_float, aliases=("--lr",)
    )
    lr_scheduler: str = setting(
        "cosine", "learning-rate schedule after the warm-up", OPTIM, choices=LR_SCHEDULES
    )
    lr_warmup_steps: int = setting(
        100, "steps of linear learning-rate warm-up", OPTIM, type=non_negative_int
    )
    adam_beta1: float = setting(0.9, "AdamW beta1", OPTIM)
    adam_beta2: float = setting(0.999, "AdamW beta2", OPTIM)
    adam_weight_decay: float = setting(0.0, "AdamW weight decay", OPTIM)
    max_grad_norm: float = setting(
        1.0, "clip the gradient norm to this", OPTIM, type=positive_float
    )
    gradient_accumulation_steps: int = setting(
        1, "batches per optimizer step", OPTIM, type=positive_int
    )
    mixed_precision: str = setting(
        "no", "bf16 (CPU or GPU) or fp16 (CUDA GPU)", OPTIM, choices=MIXED_PRECISION
    )
    use_ema: bool = setting(
        True, "sample with an exponential moving average of the weights", OPTIM,
        aliases=("--ema",),
    )  # fmt: skip
    ema_max_decay: float = setting(0.999, "EMA decay after its warm-up", OPTIM, type=fraction)
    ema_inv_gamma: float = setting(1.0, "EMA warm-up: inverse gamma", OPTIM)
    ema_power: float = setting(0.75, "EMA warm-up: power", OPTIM)
    seed: int = setting(0, "seed of weights, data order, noise and samples", OPTIM)
    overwrite: bool = setting(False, "replace a finished pipeline in --output-dir", OUTPUT)
    checkpointing_steps: int = setting(
        500, "save a checkpoint every N steps (0: never)", OUTPUT, type=non_negative_int
    )
    checkpoints_total_limit: int = setting(
        2, "keep the newest N checkpoints", OUTPUT, type=positive_int
    )
    resume: str | None = setting(None, "continue from 'latest' or a checkpoint folder", OUTPUT)
    save_samples_steps: int = setting(
        0, "save a grid of samples every N steps (0: never)", OUTPUT, type=non_negative_int
    )
    num_sample_images: int = setting(16, "images in each grid", OUTPUT, type=positive_int)
    sample_inference_steps: int = setting(
        100, "sampling steps for the grids", OUTPUT, type=positive_int
    )
    eval_samples: int = setting(
        256, "samples scored at the end (digits only; 0: skip)", OUTPUT, type=non_negative_int
    )
    eval_inference_steps: int = setting(
        100, "sampling steps for the score", OUTPUT, type=positive_int
    )
    tensorboard: bool = setting(True, "also log to TensorBoard (if installed)", OUTPUT)
    progress_bar: bool = setting(True, "show a progress bar", OUTPUT)
    push_to_hub: bool = setting(False, "upload the pipeline to the Hub at the end", OUTPUT)
    hub_model_id: str | None = setting(
        None, "repo id for --push-to-hub (default: the folder name)", OUTPUT
    )
    hub_private: bool = setting(False, "make the Hub repo private", OUTPUT)

    @property
    def data_source(self) -> str:
        """A short label of where the images come from, used in logs and the model card."""
        if self.data_dir:
            return f"folder:{self.data_dir}"
        if self.dataset_name:
            return f"hub:{self.dataset_name}:{self.dataset_split}"
        return "digits"

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in settings()}
        return data | {"data_source": self.data_source}

    def resume_signature(self) -> dict:
        """The settings a checkpoint must share with this run to be resumed by it."""
        full = self.to_dict()
        return {key: full[key] for key in RESUME_KEYS}

    def to_argv(self) -> list[str]:
        """The shortest command line that gives this config: what differs from the defaults."""
        argv = ["--output-dir", self.output_dir]
        for f in settings():
            value = getattr(self, f.name)
            if value == f.default or f.name == "output_dir":
                continue
            if isinstance(f.default, bool):
                argv.append(option_name(f.name, negative=not value))
            else:
                argv += [option_name(f.name), str(value)]
        return argv

    def noise_scheduler(self) -> DDPMScheduler:
        """The run's ``DDPMScheduler``: the script, the recipes and the chapters build it here."""
        zero_snr = self.rescale_betas_zero_snr
        return DDPMScheduler(
            num_train_timesteps=self.num_train_timesteps,
            beta_schedule=self.beta_schedule,
            prediction_type=self.prediction_type,
            rescale_betas_zero_snr=zero_snr,
            # with zero terminal SNR, sampling must start at the pure-noise step (sec. 3.3)
            timestep_spacing="trailing" if zero_snr else "leading",
        )

    def unet_kwargs(self) -> dict[str, Any]:
        """``UNet2DModel`` arguments of the --model preset at this image size and channels."""
        return unet_kwargs(self.model, self.resolution, self.channels)

    def build_unet(self) -> UNet2DModel:
        return build_unet(self.model, self.resolution, self.channels)


def settings() -> tuple[dataclasses.Field, ...]:
    """The fields of :class:`TrainConfig` (a :class:`Recipe` adds its name and GPU variant)."""
    return dataclasses.fields(TrainConfig)


def option_name(name: str, negative: bool = False) -> str:
    return ("--no-" if negative else "--") + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser, generated from the fields of :class:`TrainConfig`."""
    parser = argparse.ArgumentParser(
        prog="diffusion-course-train",
        usage="%(prog)s --output-dir DIR [options]",
        description="Train an unconditional DDPM (UNet2DModel + DDPMScheduler) and save a "
        "DDPMPipeline. Runs on CPU or GPU; use `accelerate launch` for several processes.",
        epilog="The option names of diffusers' train_unconditional.py are accepted too "
        f"(--output_dir, {', '.join(DIFFUSERS_NAMES)}).",
    )
    groups = {title: parser.add_argument_group(title) for title in (DATA, MODEL, OPTIM, OUTPUT)}
    for f in settings():
        meta = f.metadata
        group = groups[meta["group"]]
        if meta["source"]:
            group = groups.get("source") or group.add_mutually_exclusive_group()
            groups["source"] = group
        help = meta["help"]
        kwargs: dict[str, Any] = {"dest": f.name, "default": f.default}
        if isinstance(f.default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction if f.default else "store_true"
            help += " (default: on)" if f.default else ""
        else:
            kwargs.update(type=meta["type"], choices=meta["choices"])
            help += f" (default: {f.default})" if f.default not in (None, "") else ""
        if f.name == "output_dir":
            kwargs["required"] = True
        group.add_argument(option_name(f.name), *meta["aliases"], help=help, **kwargs)
    return parser


def our_spelling(arg: str) -> str:
    """``--ddpm_num_steps=10`` -> ``--num-train-timesteps=10``: accept diffusers' names."""
    if not arg.startswith("--"):
        return arg
    name, equals, value = arg.partition("=")
    return DIFFUSERS_NAMES.get(name, name.replace("_", "-")) + equals + value


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse the command line into a :class:`TrainConfig` (no file system checks yet)."""
    argv = sys.argv[1:] if argv is None else argv
    namespace = build_parser().parse_args([our_spelling(arg) for arg in argv])
    return TrainConfig(**vars(namespace))


def validate_config(config: TrainConfig) -> None:
    """Check settings that need no data (also for configs built in code); raise UsageError."""
    for f in settings():
        value, check, choices = getattr(config, f.name), f.metadata["type"], f.metadata["choices"]
        if value is None or check is None:
            continue
        try:
            check(str(value))
        except (argparse.ArgumentTypeError, ValueError) as exc:
            raise UsageError(f"{option_name(f.name)} {exc}") from None
        if choices and value not in choices:
            raise UsageError(f"{option_name(f.name)} {value!r}: choose one of {choices}")
    smallest = min_resolution(config.model)
    if config.resolution < smallest or config.resolution % smallest:
        raise UsageError(
            f"--resolution {config.resolution} does not fit --model {config.model}; "
            f"use a multiple of {smallest}"
        )
    if config.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise UsageError("--mixed-precision fp16 needs a CUDA GPU; use bf16 or no on a CPU")
    if config.rescale_betas_zero_snr and config.prediction_type == "epsilon":
        raise UsageError(
            "--rescale-betas-zero-snr makes the last step pure noise, where epsilon cannot be "
            "predicted; add --prediction-type v_prediction"
        )
    if config.hub_model_id and not config.push_to_hub:
        raise UsageError("--hub-model-id is only used with --push-to-hub; add --push-to-hub")
    if config.data_dir and config.dataset_name:
        raise UsageError("--data-dir and --dataset-name are alternatives; pass only one")
    unbounded = not (config.max_train_steps or config.num_epochs) and config.max_minutes
    if unbounded and config.lr_scheduler not in CONSTANT_LR:
        raise UsageError(
            f"--max-minutes alone gives --lr-scheduler {config.lr_scheduler} no end; add "
            "--max-train-steps (the run stops at whichever comes first) or use "
            "--lr-scheduler constant_with_warmup"
        )


def check_output_dir(config: TrainConfig) -> None:
    """Refuse an output directory that cannot be written or holds another run's results.

    This runs before anything is created, so a refused run leaves no trace on disk.
    """
    if not config.output_dir:
        raise UsageError("no --output-dir; pass the folder the pipeline should be saved in")
    out = Path(config.output_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--output-dir {out} is a file; choose a directory path")
    ancestor = out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"--output-dir {out}: {ancestor} is a file; choose another path")
    if not _can_write(ancestor):
        raise UsageError(f"--output-dir {out} is not writable; choose a folder you can write to")
    if config.resume or not out.exists():
        return
    if (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir()):
        raise UsageError(
            f"--output-dir {out} holds checkpoints of an earlier run; "
            "pass --resume latest to continue it or choose a new --output-dir"
        )
    if (out / "model_index.json").exists() and not config.overwrite:
        raise UsageError(
            f"--output-dir {out} already holds a trained pipeline; "
            "pass --overwrite to replace it or choose a new --output-dir"
        )


def _can_write(directory: Path) -> bool:
    """Try to create a file: ``os.access`` says yes to root even on a read-only mount."""
    if not os.access(directory, os.W_OK | os.X_OK):
        return False
    probe = directory / f".write-probe-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError:
        return False
    return True


def steps_per_epoch(config: TrainConfig, num_images: int, num_processes: int = 1) -> int:
    """Optimizer steps in one pass over the data (at least one)."""
    per_step = config.train_batch_size * config.gradient_accumulation_steps * num_processes
    return max(1, -(-num_images // per_step))


def total_steps(config: TrainConfig, num_images: int, num_processes: int = 1) -> int | None:
    """Steps the run aims for: --max-train-steps, else --num-epochs, else 1000.

    ``None`` when only --max-minutes is given: the time budget alone ends the run.
    """
    if config.max_train_steps:
        return config.max_train_steps
    if config.num_epochs:
        return config.num_epochs * steps_per_epoch(config, num_images, num_processes)
    if config.max_minutes:
        return None
    return DEFAULT_MAX_STEPS


__all__ = [
    "BETA_SCHEDULES",
    "DIFFUSERS_NAMES",
    "PREDICTION_TYPES",
    "RESUME_KEYS",
    "TrainConfig",
    "build_parser",
    "check_output_dir",
    "parse_args",
    "settings",
    "steps_per_epoch",
    "total_steps",
    "validate_config",
]
