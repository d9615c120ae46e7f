"""Command-line options of the training script, as one validated dataclass.

Everything a run depends on lives in :class:`TrainConfig`, so the same object is saved beside
each checkpoint (to refuse resuming with an incompatible setup), written into the model card,
and built in code by the benchmark and the chapters without going through ``argparse``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from diffusion_course.errors import UsageError
from diffusion_course.presets import PRESETS, min_resolution

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
MIXED_PRECISION = ("no", "bf16", "fp16")
DEFAULT_MAX_STEPS = 1000

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


@dataclass
class TrainConfig:
    """All settings of one training run (see ``--help`` for each)."""

    output_dir: str
    data_dir: str | None = None
    dataset_name: str | None = None
    dataset_split: str = "train"
    image_column: str | None = None
    resolution: int = 16
    channels: int = 1
    random_flip: bool = False
    model: str = "tiny"
    prediction_type: str = "epsilon"
    beta_schedule: str = "linear"
    rescale_betas_zero_snr: bool = False
    num_train_timesteps: int = 1000
    snr_gamma: float | None = None
    train_batch_size: int = 64
    max_train_steps: int | None = None
    num_epochs: int | None = None
    max_minutes: float | None = None
    learning_rate: float = 1e-3
    lr_scheduler: str = "cosine"
    lr_warmup_steps: int = 100
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1
    mixed_precision: str = "no"
    use_ema: bool = True
    ema_max_decay: float = 0.999
    ema_inv_gamma: float = 1.0
    ema_power: float = 0.75
    seed: int = 0
    checkpointing_steps: int = 500
    checkpoints_total_limit: int = 2
    resume: str | None = None
    save_samples_steps: int = 0
    num_sample_images: int = 16
    sample_inference_steps: int = 100
    eval_samples: int = 256
    eval_inference_steps: int = 100
    dataloader_num_workers: int = 0
    overwrite: bool = False
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_private: bool = False
    tensorboard: bool = True
    progress_bar: bool = True
    argv: list[str] = field(default_factory=list)

    @property
    def data_source(self) -> str:
        """A short label of where the images come from, used in logs and the model card."""
        if self.data_dir:
            return f"folder:{self.data_dir}"
        if self.dataset_name:
            return f"hub:{self.dataset_name}:{self.dataset_split}"
        return "digits"

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["data_source"] = self.data_source
        return data

    def resume_signature(self) -> dict:
        """The settings a checkpoint must share with this run to be resumed by it."""
        full = self.to_dict()
        return {key: full[key] for key in RESUME_KEYS}


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser; option names follow diffusers' train_unconditional.py."""
    p = argparse.ArgumentParser(
        prog="diffusion-course-train",
        description="Train an unconditional DDPM (UNet2DModel + DDPMScheduler) and save a "
        "DDPMPipeline. Runs on CPU or GPU; use `accelerate launch` for several processes.",
    )
    data = p.add_argument_group("data (default: the bundled handwritten digits)")
    source = data.add_mutually_exclusive_group()
    source.add_argument("--data-dir", help="a local folder of images (searched recursively)")
    source.add_argument("--dataset-name", help="a Hugging Face Hub dataset id")
    data.add_argument("--dataset-split", default="train", help="split of --dataset-name")
    data.add_argument("--image-column", help="image column of --dataset-name (auto-detected)")
    data.add_argument("--resolution", type=_positive_int, default=16, help="image side, pixels")
    data.add_argument("--channels", type=int, choices=(1, 3), default=1)
    data.add_argument("--random-flip", action="store_true", help="random horizontal flips")
    data.add_argument("--dataloader-num-workers", type=_non_negative_int, default=0)

    model = p.add_argument_group("model and noise schedule")
    model.add_argument("--model", choices=sorted(PRESETS), default="tiny", help="UNet size")
    model.add_argument("--prediction-type", choices=PREDICTION_TYPES, default="epsilon")
    model.add_argument("--beta-schedule", choices=BETA_SCHEDULES, default="linear")
    model.add_argument(
        "--rescale-betas-zero-snr",
        action="store_true",
        help="zero terminal SNR (Lin et al. 2024; use with v_prediction), trailing timesteps",
    )
    model.add_argument("--num-train-timesteps", type=_positive_int, default=1000)
    model.add_argument(
        "--snr-gamma",
        type=_positive_float,
        help="min-SNR-gamma loss weighting (Hang et al. 2023), e.g. 5; default: plain MSE",
    )

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--train-batch-size", "--batch-size", type=_positive_int, default=64)
    opt.add_argument("--max-train-steps", "--max-steps", type=_positive_int)
    opt.add_argument("--num-epochs", type=_positive_int)
    opt.add_argument("--max-minutes", type=_positive_float, help="stop after this training time")
    opt.add_argument("--learning-rate", "--lr", type=_positive_float, default=1e-3)
    opt.add_argument("--lr-scheduler", choices=LR_SCHEDULES, default="cosine")
    opt.add_argument("--lr-warmup-steps", type=_non_negative_int, default=100)
    opt.add_argument("--adam-beta1", type=float, default=0.9)
    opt.add_argument("--adam-beta2", type=float, default=0.999)
    opt.add_argument("--adam-weight-decay", type=float, default=0.0)
    opt.add_argument("--max-grad-norm", type=_positive_float, default=1.0)
    opt.add_argument("--gradient-accumulation-steps", type=_positive_int, default=1)
    opt.add_argument("--mixed-precision", choices=MIXED_PRECISION, default="no")
    opt.add_argument("--ema", dest="use_ema", action=argparse.BooleanOptionalAction, default=True)
    opt.add_argument("--ema-max-decay", type=float, default=0.999)
    opt.add_argument("--ema-inv-gamma", type=float, default=1.0)
    opt.add_argument("--ema-power", type=float, default=0.75)
    opt.add_argument("--seed", type=int, default=0)

    out = p.add_argument_group("output, checkpoints and logging")
    out.add_argument("--output-dir", required=True, help="where the pipeline is saved")
    out.add_argument("--overwrite", action="store_true", help="replace a finished pipeline")
    out.add_argument("--checkpointing-steps", type=_non_negative_int, default=500)
    out.add_argument("--checkpoints-total-limit", type=_positive_int, default=2)
    out.add_argument("--resume", help="'latest' or the path of a checkpoint directory")
    out.add_argument("--save-samples-steps", type=_non_negative_int, default=0)
    out.add_argument("--num-sample-images", type=_positive_int, default=16)
    out.add_argument("--sample-inference-steps", type=_positive_int, default=100)
    out.add_argument("--eval-samples", type=_non_negative_int, default=256)
    out.add_argument("--eval-inference-steps", type=_positive_int, default=100)
    out.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=True)
    out.add_argument("--progress-bar", action=argparse.BooleanOptionalAction, default=True)
    out.add_argument("--push-to-hub", action="store_true")
    out.add_argument("--hub-model-id", help="repo id for --push-to-hub (default: folder name)")
    out.add_argument("--hub-private", action="store_true")
    return p


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """Parse the command line into a :class:`TrainConfig` (no file system checks yet)."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    namespace = build_parser().parse_args(argv)
    return TrainConfig(**vars(namespace), argv=argv)


def validate_config(config: TrainConfig) -> None:
    """Check settings that do not depend on the data; raise :class:`UsageError` if wrong."""
    smallest = min_resolution(config.model)
    if config.resolution < smallest or config.resolution % smallest:
        raise UsageError(
            f"--resolution {config.resolution} does not fit --model {config.model}; "
            f"use a multiple of {smallest}"
        )
    if config.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise UsageError("--mixed-precision fp16 needs a CUDA GPU; use bf16 or no on a CPU")
    if not 0 < config.ema_max_decay < 1:
        raise UsageError("--ema-max-decay must be between 0 and 1, e.g. 0.999")
    if config.rescale_betas_zero_snr and config.prediction_type == "epsilon":
        raise UsageError(
            "--rescale-betas-zero-snr makes the last step pure noise, where epsilon cannot be "
            "predicted; add --prediction-type v_prediction"
        )
    if config.hub_model_id and not config.push_to_hub:
        raise UsageError("--hub-model-id is only used with --push-to-hub; add --push-to-hub")


def check_output_dir(config: TrainConfig) -> None:
    """Refuse an output directory that cannot be written or holds another run's results.

    This runs before anything is created, so a refused run leaves no trace on disk.
    """
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


def total_steps(config: TrainConfig, num_images: int, num_processes: int = 1) -> int:
    """The step count the run aims for: --max-train-steps, else --num-epochs, else 1000."""
    if config.max_train_steps:
        return config.max_train_steps
    if config.num_epochs:
        return config.num_epochs * steps_per_epoch(config, num_images, num_processes)
    if config.max_minutes:
        return 10**9  # the time budget ends the run
    return DEFAULT_MAX_STEPS


__all__ = [
    "BETA_SCHEDULES",
    "PREDICTION_TYPES",
    "TrainConfig",
    "build_parser",
    "check_output_dir",
    "parse_args",
    "total_steps",
    "validate_config",
]
