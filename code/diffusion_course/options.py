"""Settings of a training run: one frozen dataclass, from which the command line is generated.

Each :class:`TrainConfig` field carries its help and check, so every default is written once;
recipes, the benchmark and the chapters build the same object in code. diffusers'
``train_unconditional.py`` option names are accepted too.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from diffusers import DDPMScheduler, UNet2DModel

from diffusion_course.errors import UsageError


def _unet(widths: tuple[int, ...], layers: int, groups: int, attention: int | None = None) -> dict:
    """``UNet2DModel`` arguments: a block per width, attention at one level, up mirroring down."""
    down = tuple("AttnDownBlock2D" if i == attention else "DownBlock2D" for i in range(len(widths)))
    up = tuple(name.replace("Down", "Up") for name in reversed(down))
    kwargs = dict(block_out_channels=widths, layers_per_block=layers, down_block_types=down)
    return kwargs | dict(up_block_types=up, norm_num_groups=groups)


# Named sizes, so a learner picks --model instead of six architecture arguments: tiny trains in
# minutes on a laptop CPU, small adds self-attention at the lowest resolution, base is the
# original course's size for 32 px and larger images on a GPU.
PRESETS = {
    "tiny": _unet((32, 64, 64), layers=1, groups=8),
    "small": _unet((32, 64, 128), layers=1, groups=8, attention=2),
    "base": _unet((64, 128, 256, 256), layers=2, groups=32, attention=2),
}
DEFAULT_MAX_STEPS = 1000
PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid")
LR_SCHEDULES = (
    "constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial",
)  # fmt: skip
DIFFUSERS_NAMES = {  # diffusers' train_unconditional.py names that differ by more than "_"
    "--train_data_dir": "--data-dir", "--overwrite_output_dir": "--overwrite",
    "--ddpm_num_steps": "--num-train-timesteps", "--ddpm_beta_schedule": "--beta-schedule",
    "--ddpm_num_inference_steps": "--sample-inference-steps",
    "--resume_from_checkpoint": "--resume", "--hub_private_repo": "--hub-private",
}  # fmt: skip
# What --resume must find unchanged: the model, the noise process and the data order.
RESUME_KEYS = (
    "data_source", "resolution", "channels", "model", "prediction_type", "beta_schedule",
    "rescale_betas_zero_snr", "num_train_timesteps", "use_ema", "train_batch_size",
    "gradient_accumulation_steps", "lr_scheduler",
)  # fmt: skip


def _number(kind: type, ok: Callable[[Any], bool], rule: str) -> Callable[[str], Any]:
    """An ``argparse`` type that parses a number and checks its range."""

    def parse(text: str) -> Any:
        if not ok(value := kind(text)):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse says "invalid int value: 'x'"
    return parse


positive_int = _number(int, lambda v: v > 0, "a positive integer")
count = _number(int, lambda v: v >= 0, "0 or more")
positive = _number(float, lambda v: v > 0, "a positive number")
fraction = _number(float, lambda v: 0 < v < 1, "between 0 and 1, e.g. 0.999")


def setting(default: Any, help: str, check: Any = None, *aliases: str) -> Any:
    """A field with the ``argparse`` options that offer it: ``check`` is a tuple of choices or a
    parsing type (default: the type of ``default``)."""
    if default not in (None, "") and default is not False:
        help += f" (default: {'on' if default is True else default})"
    if isinstance(default, bool):
        options = {"action": argparse.BooleanOptionalAction if default else "store_true"}
    elif isinstance(check, tuple):
        options = {"choices": check, "type": type(default)}
    else:
        options = {"type": check or (str if default is None else type(default))}
    metadata = {"options": options | {"help": help}, "aliases": aliases}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """All settings of one training run; ``diffusion-course-train --help`` lists them."""

    output_dir: str = setting("", "where the pipeline, checkpoints and logs are saved")
    data_dir: str | None = setting(None, "a local folder of images (searched recursively)")
    dataset_name: str | None = setting(None, "a Hugging Face Hub dataset id")
    dataset_split: str = setting("train", "split of --dataset-name")
    image_column: str | None = setting(None, "image column of --dataset-name (default: the first)")
    resolution: int = setting(16, "image side in pixels", positive_int)
    channels: int = setting(1, "1 (greyscale) or 3 (colour)", (1, 3))
    random_flip: bool = setting(False, "mirror images at random (not for digits)")
    dataloader_num_workers: int = setting(0, "processes loading images (0: this one)", count)
    model: str = setting("tiny", "UNet size preset", tuple(PRESETS))
    prediction_type: str = setting("epsilon", "the UNet predicts noise, v or x0", PREDICTION_TYPES)
    beta_schedule: str = setting("linear", "the betas (cosine: squaredcos_cap_v2)", BETA_SCHEDULES)
    rescale_betas_zero_snr: bool = setting(False, "zero terminal SNR (needs v_prediction)")
    num_train_timesteps: int = setting(1000, "noise levels of the forward process", positive_int)
    snr_gamma: float | None = setting(None, "min-SNR-gamma loss weight, e.g. 5", positive)
    train_batch_size: int = setting(64, "images per process and step", positive_int, "--batch-size")
    max_train_steps: int | None = setting(
        None, f"optimizer steps (default: {DEFAULT_MAX_STEPS} unless --num-epochs)", positive_int,
        "--max-steps",
    )  # fmt: skip
    num_epochs: int | None = setting(None, "passes over the data", positive_int)
    max_minutes: float | None = setting(None, "stop after this much training time", positive)
    learning_rate: float = setting(1e-3, "peak learning rate of AdamW", positive, "--lr")
    lr_scheduler: str = setting("cosine", "learning-rate schedule after the warm-up", LR_SCHEDULES)
    lr_warmup_steps: int = setting(100, "steps of linear learning-rate warm-up", count)
    adam_beta1: float = setting(0.9, "AdamW beta1")
    adam_beta2: float = setting(0.999, "AdamW beta2")
    adam_weight_decay: float = setting(0.0, "AdamW weight decay")
    max_grad_norm: float = setting(1.0, "clip the gradient norm to this", positive)
    gradient_accumulation_steps: int = setting(1, "batches per optimizer step", positive_int)
    mixed_precision: str = setting("no", "bf16 (CPU or GPU) or fp16 (CUDA)", ("no", "bf16", "fp16"))
    use_ema: bool = setting(True, "sample with the weights' moving average (EMA)", None, "--ema")
    ema_max_decay: float = setting(0.999, "EMA decay after its warm-up", fraction)
    ema_inv_gamma: float = setting(1.0, "EMA warm-up: inverse gamma")
    ema_power: float = setting(0.75, "EMA warm-up: power")
    seed: int = setting(0, "seed of weights, data order, noise and samples")
    overwrite: bool = setting(False, "replace a finished pipeline in --output-dir")
    checkpointing_steps: int = setting(500, "save a checkpoint every N steps (0: never)", count)
    checkpoints_total_limit: int = setting(2, "keep the newest N checkpoints", positive_int)
    resume: str | None = setting(None, "continue from 'latest' or a checkpoint folder")
    save_samples_steps: int = setting(0, "save a sample grid every N steps (0: never)", count)
    num_sample_images: int = setting(16, "images in each grid", positive_int)
    sample_inference_steps: int = setting(100, "sampling steps for the grids", positive_int)
    eval_samples: int = setting(256, "samples scored at the end (digits only; 0: skip)", count)
    eval_inference_steps: int = setting(100, "sampling steps for the score", positive_int)
    tensorboard: bool = setting(True, "also log to TensorBoard (if installed)")
    progress_bar: bool = setting(True, "show a progress bar")
    push_to_hub: bool = setting(False, "upload the pipeline to the Hub at the end")
    hub_model_id: str | None = setting(None, "Hub repo id (default: the output folder's name)")
    hub_private: bool = setting(False, "make the Hub repo private")

    @property
    def data_source(self) -> str:
        """A short label of where the images come from, for logs and the model card."""
        if self.data_dir:
            return f"folder:{self.data_dir}"
        return f"hub:{self.dataset_name}:{self.dataset_split}" if self.dataset_name else "digits"

    def to_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in settings()}
        return values | {"data_source": self.data_source}

    def resume_signature(self) -> dict:
        """The settings a checkpoint must share with this run to be resumed by it."""
        return {key: self.to_dict()[key] for key in RESUME_KEYS}

    def to_argv(self) -> list[str]:
        """The shortest command line that gives this config: what differs from the defaults."""
        argv = ["--output-dir", self.output_dir]
        for f in settings()[1:]:  # after output_dir
            value = getattr(self, f.name)
            if value != f.default and isinstance(value, bool):
                argv.append(option_name(f.name, negative=not value))
            elif value != f.default:
                argv += [option_name(f.name), str(value)]
        return argv

    def total_steps(self, num_images: int, num_processes: int = 1) -> int | None:
        """--max-train-steps, else --num-epochs, else 1000; None when only --max-minutes ends it."""
        if self.max_train_steps:
            return self.max_train_steps
        if self.num_epochs:  # the last batch of an epoch may be short
            per_step = self.train_batch_size * self.gradient_accumulation_steps * num_processes
            return self.num_epochs * max(1, -(-num_images // per_step))
        return None if self.max_minutes else DEFAULT_MAX_STEPS

    def noise_scheduler(self) -> DDPMScheduler:
        """The run's ``DDPMScheduler``: the script, the recipes and the chapters build it here."""
        zero_snr = (
            self.rescale_betas_zero_snr
        )  # then sampling starts at pure noise (Lin et al. 3.3)
        return DDPMScheduler(
            num_train_timesteps=self.num_train_timesteps, beta_schedule=self.beta_schedule,
            prediction_type=self.prediction_type, rescale_betas_zero_snr=zero_snr,
            timestep_spacing="trailing" if zero_snr else "leading",
        )  # fmt: skip

    def unet_kwargs(self) -> dict[str, Any]:
        """The ``UNet2DModel`` arguments of the --model preset for this image size and channels."""
        sizes = {"sample_size": self.resolution, "in_channels": self.channels}
        return PRESETS[self.model] | sizes | {"out_channels": self.channels}

    def build_unet(self) -> UNet2DModel:
        return UNet2DModel(**self.unet_kwargs())


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
        description="Train an unconditional DDPM (UNet2DModel + DDPMScheduler) on the bundled "
        "digits, a --data-dir or a --dataset-name, and save a DDPMPipeline. Runs on CPU or GPU; "
        "use `accelerate launch` for several processes.",
        epilog="The option names of diffusers' train_unconditional.py are accepted too "
        f"(--output_dir, {', '.join(DIFFUSERS_NAMES)}).",
    )
    sources = parser.add_mutually_exclusive_group()  # default: the bundled digits
    for f in settings():
        target = sources if f.name in ("data_dir", "dataset_name") else parser
        names = [option_name(f.name), *f.metadata["aliases"]]
        required = f.name == "output_dir"
        target.add_argument(
            *names, dest=f.name, default=f.default, required=required, **f.metadata["options"]
        )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> TrainConfig:
    """The command line (in our or diffusers' option names) as a :class:`TrainConfig`."""
    ours = []
    for arg in sys.argv[1:] if argv is None else argv:
        name, equals, value = arg.partition("=")
        if arg.startswith("--"):
            arg = DIFFUSERS_NAMES.get(name, name.replace("_", "-")) + equals + value
        ours.append(arg)
    return TrainConfig(**vars(build_parser().parse_args(ours)))


def validate_config(config: TrainConfig) -> None:
    """Check settings that need no data (also for configs built in code); raise UsageError."""
    parser = build_parser()
    parser.exit_on_error = False  # raise what it finds: the types, choices and ranges of the CLI
    try:
        parser.parse_args(config.to_argv())
    except argparse.ArgumentError as exc:
        raise UsageError(str(exc).removeprefix("argument ")) from None
    smallest = 2 ** len(PRESETS[config.model]["block_out_channels"])  # halved down to 2x2
    if config.resolution % smallest:
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
    unbounded = config.total_steps(num_images=1) is None  # only --max-minutes ends the run
    if unbounded and config.lr_scheduler not in ("constant", "constant_with_warmup"):
        raise UsageError(
            f"--max-minutes alone gives --lr-scheduler {config.lr_scheduler} no end; add "
            "--max-train-steps (the run stops at whichever comes first) or use "
            "--lr-scheduler constant_with_warmup"
        )


def check_output_dir(config: TrainConfig) -> None:
    """Refuse an output folder that cannot be written or holds another run's results."""
    out = ancestor = Path(config.output_dir)
    if not config.output_dir:
        raise UsageError("no --output-dir; pass the folder the pipeline should be saved in")
    while not ancestor.exists():
        ancestor = ancestor.parent
    try:  # create a file: os.access says yes to root even on a read-only mount
        tempfile.TemporaryFile(dir=ancestor).close()
    except OSError:  # also when the ancestor is a file
        raise UsageError(
            f"--output-dir {out} is not writable ({ancestor}); choose another"
        ) from None
    if config.resume or not out.exists():
        return
    if any((out / "checkpoints").glob("*")):
        raise UsageError(
            f"--output-dir {out} holds checkpoints of an earlier run; "
            "pass --resume latest to continue it or choose a new --output-dir"
        )
    if (out / "model_index.json").exists() and not config.overwrite:
        raise UsageError(
            f"--output-dir {out} already holds a trained pipeline; "
            "pass --overwrite to replace it or choose a new --output-dir"
        )
