"""Train an unconditional DDPM and save it as a ``DDPMPipeline``: the course's training script.

Built like diffusers' ``train_unconditional.py`` on 🤗 accelerate, so the same file runs on a
CPU, one GPU, or several processes::

    python -m diffusion_course.train --output-dir ddpm-digits --max-steps 2000
    accelerate launch --num_processes 2 -m diffusion_course.train --output-dir ddpm-digits

Read it from :func:`train` down: check the inputs, set up, run :func:`training_loop` (the
heart: one optimizer step per pass), save the results. Bad input ends with one line
``error: <problem>; <fix>`` and exit status 2 before anything is written. Checkpoints are
atomic, so a run killed at any moment continues with ``--resume latest``.
"""

from __future__ import annotations

import csv
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import diffusers
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.tracking import GeneralTracker
from accelerate.utils import (
    DataLoaderConfiguration,
    ProjectConfiguration,
    is_tensorboard_available,
    set_seed,
)
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel, compute_snr
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from diffusion_course import checkpoints as ckpt
from diffusion_course.errors import UsageError
from diffusion_course.image_folder import ImageListDataset, load_training_images
from diffusion_course.model_card import hardware_description, model_card
from diffusion_course.options import (
    TrainConfig,
    check_output_dir,
    parse_args,
    total_steps,
    validate_config,
)


@dataclass
class Inputs:
    """What the checks produced before anything was written."""

    images: list
    resume_from: Path | None = None
    resume_state: dict | None = None
    hub_token: str | None = None
    hub_repo_id: str | None = None


@dataclass
class TrainingProgress:
    """A run's objects and counters. The loop advances it; hooks receive it after every
    optimizer step (the benchmark scores the model from here) and may return True to stop."""

    config: TrainConfig
    accelerator: Accelerator
    model: torch.nn.Module
    ema: EMAModel | None
    noise_scheduler: DDPMScheduler
    optimizer: torch.optim.Optimizer
    lr_scheduler: torch.optim.lr_scheduler.LRScheduler
    loader: DataLoader
    total_steps: int | None  # None: only --max-minutes ends the run
    commands: list[str]
    step: int = 0
    train_seconds: float = 0.0
    earlier_wall_seconds: float = 0.0  # of the runs this one resumes
    started: float = field(default_factory=time.perf_counter)

    @property
    def out(self) -> Path:
        return Path(self.config.output_dir)

    @property
    def finished(self) -> bool:
        return self.total_steps is not None and self.step >= self.total_steps

    @property
    def out_of_time(self) -> bool:
        limit = self.config.max_minutes
        return limit is not None and self.train_seconds >= limit * 60

    def pipeline(self, use_ema: bool = True) -> DDPMPipeline:
        """A pipeline with the weights a sample should use now (EMA if enabled), on a copy."""
        unet = self.accelerator.unwrap_model(self.model)
        # Building a UNet draws random initial weights: keep the training RNG where it was.
        with torch.random.fork_rng(devices=[]):
            copy = UNet2DModel.from_config(unet.config)
        copy.load_state_dict(unet.state_dict())
        if use_ema and self.ema is not None:
            self.ema.copy_to(copy.parameters())
        scheduler = DDPMScheduler.from_config(self.noise_scheduler.config)
        return DDPMPipeline(unet=copy.eval(), scheduler=scheduler)

    def state(self) -> dict:
        """Saved with each checkpoint (to resume) and with the pipeline (for the model card)."""
        return {
            "step": self.step,
            "total_steps": self.total_steps,
            "train_seconds": self.train_seconds,
            "wall_seconds": self.earlier_wall_seconds + time.perf_counter() - self.started,
            "config": self.config.to_dict(),
            "signature": self.config.resume_signature(),
            "commands": self.commands,
            "num_processes": self.accelerator.num_processes,
            "hardware": hardware_description(),
            "diffusers_version": diffusers.__version__,
        }


Hook = Callable[[TrainingProgress], "bool | None"]


def train(config: TrainConfig, hooks: Sequence[Hook] = ()) -> Path:
    """Check, set up, train and save; return the output folder. Raises UsageError on bad input."""
    inputs = check_inputs(config)
    run = set_up(config, inputs)
    training_loop(run, hooks)
    save_results(run, inputs)
    return run.out


def check_inputs(config: TrainConfig) -> Inputs:
    """Validate options, output folder, data, resume point and Hub access; create nothing."""
    validate_config(config)
    check_output_dir(config)
    images = load_training_images(
        config.data_dir,
        config.dataset_name,
        config.dataset_split,
        config.image_column,
        config.resolution,
    )
    inputs = Inputs(images=images)
    if config.resume:
        inputs.resume_from = ckpt.resolve_resume(config.resume, config.output_dir)
        inputs.resume_state = ckpt.check_compatible(inputs.resume_from, config.resume_signature())
    if config.push_to_hub:
        from diffusion_course.hub import check_push_to_hub

        name = config.hub_model_id or Path(config.output_dir).resolve().name
        inputs.hub_token, inputs.hub_repo_id = check_push_to_hub(name)
    return inputs


def set_up(config: TrainConfig, inputs: Inputs) -> TrainingProgress:
    """Accelerator, model, EMA, data, optimizer and learning-rate schedule; then resume."""
    resume_step = int(inputs.resume_state["step"]) if inputs.resume_state else 0
    accelerator = make_accelerator(config, resume_step)
    set_seed(config.seed, device_specific=True)
    if accelerator.is_main_process:
        ckpt.checkpoints_dir(config.output_dir).mkdir(parents=True, exist_ok=True)
        ckpt.remove_stale_tmp(config.output_dir)
    accelerator.wait_for_everyone()
    noise_scheduler = config.noise_scheduler()
    model = config.build_unet()
    ema = make_ema(config, model)
    flip = config.random_flip
    dataset = ImageListDataset(inputs.images, config.resolution, config.channels, flip)
    loader = DataLoader(
        dataset,
        batch_size=config.train_batch_size,
        shuffle=True,
        num_workers=config.dataloader_num_workers,
        generator=torch.Generator().manual_seed(config.seed),
    )
    processes = accelerator.num_processes
    steps = total_steps(config, len(dataset), processes)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2),
        weight_decay=config.adam_weight_decay,
    )
    lr_scheduler = get_scheduler(  # accelerate steps it once per process
        config.lr_scheduler,
        optimizer=optimizer,
        num_warmup_steps=config.lr_warmup_steps * processes,
        num_training_steps=steps and steps * processes,
    )
    model, optimizer, loader, lr_scheduler = accelerator.prepare(
        model, optimizer, loader, lr_scheduler
    )
    if ema is not None:
        ema.to(accelerator.device)
    save_unets_in_checkpoints(accelerator, ema)
    run = TrainingProgress(
        config, accelerator, model, ema, noise_scheduler, optimizer, lr_scheduler, loader, steps,
        commands=[command_line(config, processes)],
    )  # fmt: skip
    if inputs.resume_from is not None:
        resume(run, inputs.resume_from, inputs.resume_state)
    # A resumed run drops what a killed run logged after its checkpoint (CSVTracker does too).
    tensorboard = {"purge_step": resume_step + 1} if resume_step else {}
    accelerator.init_trackers("train", init_kwargs={"tensorboard": tensorboard})
    return run


def make_accelerator(config: TrainConfig, resume_step: int = 0) -> Accelerator:
    """The Accelerator, logging to metrics.csv and TensorBoard (continued after ``resume_step``).

    Several processes without CUDA become a gloo CPU group (``accelerate launch --multi_gpu
    --num_processes N`` or ``torchrun`` on a machine without a GPU would otherwise start N
    independent single-process runs; ``--cpu`` with N > 1 asks accelerate for ``mpirun``).
    """
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    out = Path(config.output_dir)
    trackers: list = [CSVTracker(out / "logs" / "metrics.csv", resume_step)]
    if config.tensorboard and is_tensorboard_available():
        trackers.append("tensorboard")
    return Accelerator(
        cpu=several and not torch.cuda.is_available(),
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        mixed_precision=config.mixed_precision,
        log_with=trackers,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )


def make_ema(config: TrainConfig, model: UNet2DModel) -> EMAModel | None:
    """EMA with warm-up (decay grows from 0 towards --ema-max-decay), as in diffusers' example."""
    if not config.use_ema:
        return None
    return EMAModel(
        model.parameters(),
        decay=config.ema_max_decay,
        use_ema_warmup=True,
        inv_gamma=config.ema_inv_gamma,
        power=config.ema_power,
        model_cls=UNet2DModel,
        model_config=model.config,
    )


def save_unets_in_checkpoints(accelerator: Accelerator, ema: EMAModel | None) -> None:
    """Checkpoints hold the UNet and its EMA in diffusers' format, in ``unet/`` and
    ``unet_ema/``, so ``UNet2DModel.from_pretrained(checkpoint / "unet_ema")`` loads the
    averaged weights of a run that is still training."""

    def save(models: list, weights: list, folder: str) -> None:
        if accelerator.is_main_process:
            accelerator.unwrap_model(models[0]).save_pretrained(Path(folder) / "unet")
            if ema is not None:
                with torch.random.fork_rng(devices=[]):  # it builds a UNet to save
                    ema.save_pretrained(Path(folder) / "unet_ema")
        weights.pop()  # saved above; accelerate need not save it again

    def load(models: list, folder: str) -> None:
        saved = UNet2DModel.from_pretrained(Path(folder) / "unet")
        accelerator.unwrap_model(models.pop()).load_state_dict(saved.state_dict())
        if ema is not None:  # what EMAModel.from_pretrained does, without building a third UNet
            averaged = UNet2DModel.from_pretrained(Path(folder) / "unet_ema")
            counters = UNet2DModel.load_config(Path(folder) / "unet_ema")
            state = {key: counters[key] for key in ema.state_dict() if key != "shadow_params"}
            ema.load_state_dict(state | {"shadow_params": list(averaged.parameters())})
            ema.to(accelerator.device)

    accelerator.register_save_state_pre_hook(save)
    accelerator.register_load_state_pre_hook(load)


def resume(run: TrainingProgress, checkpoint: Path, state: dict) -> None:
    """Load model, EMA, optimizer, schedule and every process's RNG, and the counters."""
    run.accelerator.load_state(str(checkpoint))
    run.step = int(state["step"])
    run.train_seconds = float(state["train_seconds"])
    run.earlier_wall_seconds = float(state["wall_seconds"])
    run.commands = state["commands"] + run.commands
    run.accelerator.print(f"resumed from {checkpoint} at step {run.step}")


def training_loop(run: TrainingProgress, hooks: Sequence[Hook] = ()) -> None:
    """Train until the step count, the time budget or a hook ends the run."""
    config, accelerator, model = run.config, run.accelerator, run.model
    scheduler = run.noise_scheduler
    bar = tqdm(
        total=run.total_steps,
        initial=run.step,
        disable=not (accelerator.is_local_main_process and config.progress_bar),
        desc="train",
        unit="step",
    )
    batches_per_epoch = len(run.loader)
    steps_per_epoch = -(-batches_per_epoch // config.gradient_accumulation_steps)
    epoch, done_in_epoch = divmod(run.step, steps_per_epoch)
    skip = done_in_epoch * config.gradient_accumulation_steps  # batches a resumed run has seen
    stop = run.finished
    while not stop:
        run.loader.set_epoch(epoch)
        batches = accelerator.skip_first_batches(run.loader, skip) if skip else run.loader
        skip, losses, started = 0, [], time.perf_counter()
        for batch in batches:
            clean = batch["pixel_values"]
            noise = torch.randn_like(clean)
            t = torch.randint(0, config.num_train_timesteps, (len(clean),), device=clean.device)
            noisy = scheduler.add_noise(clean, noise, t)  # forward process, any t in one jump
            with accelerator.accumulate(model):
                prediction = model(noisy, t, return_dict=False)[0]
                target = training_target(scheduler, clean, noise, t)
                loss = diffusion_loss(prediction, target, scheduler, t, config.snr_gamma)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                run.optimizer.step()  # accelerate skips these until the last accumulated batch
                run.lr_scheduler.step()
                run.optimizer.zero_grad()
            losses.append(loss.item())
            if not accelerator.sync_gradients:
                continue
            # One optimizer step is done.
            run.step += 1
            if run.ema is not None:
                run.ema.step(model.parameters())
            seconds = time.perf_counter() - started
            run.train_seconds += seconds
            hook_stop = any([bool(hook(run)) for hook in hooks])  # every hook runs
            loss, stop = mean_over_processes(run, sum(losses) / len(losses), hook_stop)
            log_step(run, bar, epoch, loss, seconds)
            if config.checkpointing_steps and run.step % config.checkpointing_steps == 0:
                save_checkpoint(run)
            if config.save_samples_steps and run.step % config.save_samples_steps == 0:
                save_sample_grid(run, run.out / "samples" / f"step-{run.step:06d}.png")
            stop = stop or run.finished
            if stop:
                break
            losses, started = [], time.perf_counter()
        epoch += 1
    bar.close()


def training_target(
    scheduler: DDPMScheduler, clean: torch.Tensor, noise: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """What the UNet learns to output for the configured prediction type."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "sample":
        return clean
    return scheduler.get_velocity(clean, noise, t)


def diffusion_loss(
    prediction: torch.Tensor,
    target: torch.Tensor,
    scheduler: DDPMScheduler,
    t: torch.Tensor,
    snr_gamma: float | None = None,
) -> torch.Tensor:
    """Mean squared error; with ``snr_gamma`` each image's error is weighted by min-SNR-gamma
    (Hang et al. 2023), which stops the many easy low-noise timesteps from dominating."""
    if not snr_gamma:
        return F.mse_loss(prediction.float(), target.float())
    per_image = F.mse_loss(prediction.float(), target.float(), reduction="none").mean((1, 2, 3))
    return (per_image * min_snr_weights(scheduler, t, snr_gamma)).mean()


def min_snr_weights(scheduler: DDPMScheduler, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-image loss weights of min-SNR-gamma: the loss of each timestep counts as if the
    target were x0 with weight min(SNR, gamma), whatever the prediction type."""
    snr = compute_snr(scheduler, t)
    clipped = snr.clamp(max=gamma)
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return clipped / snr.clamp(min=1e-8)
    if kind == "v_prediction":
        return clipped / (snr + 1)
    return clipped


def mean_over_processes(run: TrainingProgress, loss: float, stop: bool) -> tuple[float, bool]:
    """The mean loss of all processes, and whether any wants to stop, in one collective."""
    stop = stop or run.out_of_time
    flags = torch.tensor([loss, float(stop)], device=run.accelerator.device)
    flags = run.accelerator.reduce(flags, reduction="mean")
    return flags[0].item(), bool(flags[1].item() > 0)


def log_step(run: TrainingProgress, bar: tqdm, epoch: int, loss: float, seconds: float) -> None:
    """The progress bar and the trackers (metrics.csv, TensorBoard)."""
    config = run.config
    images = config.train_batch_size * config.gradient_accumulation_steps
    speed = images * run.accelerator.num_processes / max(seconds, 1e-9)
    lr = run.lr_scheduler.get_last_lr()[0]
    bar.update(1)
    bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{speed:.0f}", lr=f"{lr:.1e}")
    values = {
        "epoch": epoch,
        "loss": round(loss, 6),
        "lr": lr,
        "train_seconds": round(run.train_seconds, 3),
        "images_per_second": round(speed, 1),
    }
    run.accelerator.log(values, step=run.step)


class CSVTracker(GeneralTracker):
    """An accelerate tracker writing ``logs/metrics.csv``, one row per optimizer step.

    A resumed run keeps the rows up to its checkpoint's step and continues after them.
    """

    name = "csv"
    requires_logging_directory = False
    columns = ("step", "epoch", "loss", "lr", "train_seconds", "images_per_second")

    def __init__(self, path: Path, resume_step: int = 0) -> None:
        super().__init__()
        self.path, self.resume_step = path, resume_step

    def start(self) -> None:
        kept = []
        if self.path.exists() and self.resume_step:
            with open(self.path, newline="", encoding="utf-8") as handle:
                kept = [r for r in csv.DictReader(handle) if int(r["step"]) <= self.resume_step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "w", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.handle, fieldnames=self.columns)
        self.writer.writeheader()
        self.writer.writerows(kept)

    @property
    def tracker(self) -> csv.DictWriter:
        return self.writer

    def log(self, values: dict, step: int | None = None, **kwargs) -> None:
        self.writer.writerow({"step": step, **values})
        self.handle.flush()

    def finish(self) -> None:
        self.handle.close()


def save_checkpoint(run: TrainingProgress) -> Path:
    """accelerate's full state into a temp folder on every process, then an atomic rename."""
    accelerator = run.accelerator
    tmp = ckpt.tmp_path(run.out, run.step)
    if accelerator.is_main_process:
        ckpt.remove_tree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    final = ckpt.checkpoints_dir(run.out) / f"checkpoint-{run.step}"
    if accelerator.is_main_process:
        limit = run.config.checkpoints_total_limit
        final = ckpt.publish_checkpoint(run.out, run.step, run.state(), limit)
    accelerator.wait_for_everyone()
    return final


def save_sample_grid(
    run: TrainingProgress, path: Path, pipeline: DDPMPipeline | None = None
) -> None:
    """A grid of seeded samples (the same noise every time, so grids compare across steps)."""
    if not run.accelerator.is_main_process:
        return
    from diffusion_course.evaluate import generate
    from diffusion_course.plotting import image_grid

    config = run.config
    path.parent.mkdir(parents=True, exist_ok=True)
    pipeline = pipeline or run.pipeline()
    images = generate(
        pipeline, config.num_sample_images, config.sample_inference_steps, seed=config.seed
    )
    image_grid(images, cols=min(8, len(images))).save(path)


def save_results(run: TrainingProgress, inputs: Inputs) -> None:
    """Final checkpoint; the pipeline with EMA weights, its score and card; the upload."""
    accelerator = run.accelerator
    last = ckpt.list_checkpoints(run.out)
    if run.config.checkpointing_steps and not (last and last[-1].name == f"checkpoint-{run.step}"):
        save_checkpoint(run)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_pipeline(run, inputs.hub_repo_id)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    if accelerator.is_main_process and run.config.push_to_hub:
        from diffusion_course.hub import push_folder

        private = run.config.hub_private
        pushed = push_folder(run.out, inputs.hub_repo_id, inputs.hub_token, private)
        print(f"pushed to https://huggingface.co/{pushed}")


def save_pipeline(run: TrainingProgress, repo_id: str | None) -> None:
    """Assemble pipeline, samples, metric and card in a temp folder, then publish them."""
    pipeline = run.pipeline()
    tmp = run.out / ".pipeline.tmp"
    ckpt.remove_tree(tmp)
    pipeline.save_pretrained(str(tmp), safe_serialization=True)
    metric = measure(pipeline, run.config)
    save_sample_grid(run, tmp / "samples.png", pipeline)
    state = run.state() | {"metric": metric}
    model_card(state, metric, repo_id).save(tmp / "README.md")
    ckpt.write_json_atomic(run.out / "logs" / "final_state.json", state)
    ckpt.publish_pipeline(tmp, run.out)
    print(f"saved pipeline to {run.out}" + (f" | {metric}" if metric else ""))


def measure(pipeline: DDPMPipeline, config: TrainConfig) -> str | None:
    """The digits metric, when the run trained on greyscale digits."""
    if config.data_source != "digits" or config.channels != 1 or config.eval_samples < 2:
        return None
    from diffusion_course.evaluate import evaluate_pipeline

    steps, seed = config.eval_inference_steps, config.seed
    report = evaluate_pipeline(pipeline, config.eval_samples, steps, seed)
    return f"{report} ({report.num_samples} samples, {steps} sampling steps, seed {seed})"


def command_line(config: TrainConfig, num_processes: int) -> str:
    """The command that reproduces this run, as a learner would type it."""
    args = shlex.join(config.to_argv())
    threads = os.environ.get("OMP_NUM_THREADS")
    env = f"OMP_NUM_THREADS={threads} " if threads else ""
    if num_processes > 1:
        launcher = f"accelerate launch --multi_gpu --num_processes {num_processes}"
        return f"{env}{launcher} -m diffusion_course.train {args}"
    return f"{env}python -m diffusion_course.train {args}"


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: one ``error:`` line and status 2 on bad input, no traceback."""
    config = parse_args(argv)
    main_rank = os.environ.get("RANK", "0") == "0"
    try:
        train(config)
    except UsageError as exc:
        if main_rank:
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if main_rank:
            print("interrupted; continue with --resume latest", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
