"""Train an unconditional DDPM and save it as a ``DDPMPipeline``: the course's training script.

Built on 🤗 accelerate like diffusers' ``train_unconditional.py``, so it runs on a CPU, a GPU or
several processes (``accelerate launch --num_processes 2 -m diffusion_course.train ...``). Read
it from :func:`train` down: check, set up, :func:`training_loop`, save. Bad input ends with one
line ``error: <problem>; <fix>`` and status 2 before anything is written; checkpoints are atomic,
so a killed run continues with ``--resume latest``.
"""

from __future__ import annotations

import csv
import os
import shlex
import shutil
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
from accelerate.utils import DataLoaderConfiguration, is_tensorboard_available, set_seed
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel, compute_snr
from diffusers.utils import SAFETENSORS_WEIGHTS_NAME
from safetensors.torch import load_file
from torch import Tensor
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from diffusion_course import checkpoints as ckpt
from diffusion_course.errors import UsageError
from diffusion_course.evaluate import evaluate_pipeline, generate
from diffusion_course.hub import check_push_to_hub, push_folder
from diffusion_course.image_folder import ImageListDataset, load_training_images
from diffusion_course.model_card import hardware_description, model_card
from diffusion_course.options import TrainConfig, check_output_dir, parse_args, validate_config
from diffusion_course.plotting import image_grid


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
    commands: list[str]  # of this run and the runs it resumes
    repo_id: str | None = None  # where --push-to-hub uploads
    step: int = 0
    train_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)  # minus the resumed runs' time

    @property
    def out(self) -> Path:
        return Path(self.config.output_dir)

    @property
    def finished(self) -> bool:
        return self.total_steps is not None and self.step >= self.total_steps

    def pipeline(self, use_ema: bool = True) -> DDPMPipeline:
        """A pipeline with the weights a sample should use now (EMA if enabled), on a copy."""
        unet = self.accelerator.unwrap_model(self.model)
        with torch.random.fork_rng(devices=[]):  # a new UNet draws weights: keep the RNG as is
            copy = UNet2DModel.from_config(unet.config)
        copy.load_state_dict(unet.state_dict())
        if use_ema and self.ema is not None:
            self.ema.copy_to(copy.parameters())
        return DDPMPipeline(copy.eval(), DDPMScheduler.from_config(self.noise_scheduler.config))

    def state(self) -> dict:
        """Saved with each checkpoint (to resume) and with the pipeline (for the model card)."""
        return dict(
            step=self.step, total_steps=self.total_steps, train_seconds=self.train_seconds,
            wall_seconds=time.perf_counter() - self.started, config=self.config.to_dict(),
            commands=self.commands, num_processes=self.accelerator.num_processes,
            hardware=hardware_description(), diffusers_version=diffusers.__version__,
        )  # fmt: skip


Hook = Callable[[TrainingProgress], "bool | None"]


def train(config: TrainConfig, hooks: Sequence[Hook] = ()) -> Path:
    """Check everything (raising UsageError) before anything is written; set up, train, save."""
    validate_config(config)
    check_output_dir(config)
    images = load_training_images(config)
    checkpoint, state = ckpt.find_resume(config) if config.resume else (None, {})
    repo_id = check_push_to_hub(config) if config.push_to_hub else None
    run = set_up(config, images, checkpoint, state)
    run.repo_id = repo_id
    training_loop(run, hooks)
    save_results(run)
    return run.out


def set_up(
    config: TrainConfig, images: list, checkpoint: Path | None, state: dict
) -> TrainingProgress:
    """Accelerator, model, EMA, data, optimizer and lr schedule; then resume from ``checkpoint``."""
    accelerator = make_accelerator(config, resume_step=state.get("step", 0))
    set_seed(config.seed, device_specific=True)
    if accelerator.is_main_process:
        ckpt.make_checkpoints_dir(config.output_dir)
    unet = config.build_unet()
    dataset = ImageListDataset(images, config.resolution, config.channels, config.random_flip)
    loader = DataLoader(
        dataset, batch_size=config.train_batch_size, shuffle=True,
        num_workers=config.dataloader_num_workers,
        generator=torch.Generator().manual_seed(config.seed),
    )  # fmt: skip
    processes = accelerator.num_processes
    steps = config.total_steps(len(dataset), processes)
    optimizer = torch.optim.AdamW(
        unet.parameters(), lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2),
        weight_decay=config.adam_weight_decay,
    )  # fmt: skip
    lr_schedule = get_scheduler(  # accelerate steps it once per process
        config.lr_scheduler, optimizer, num_warmup_steps=config.lr_warmup_steps * processes,
        num_training_steps=steps and steps * processes,
    )  # fmt: skip
    model, optimizer, loader, lr_schedule = accelerator.prepare(
        unet, optimizer, loader, lr_schedule
    )
    ema = EMAModel(  # on the device now; its decay grows from 0 to --ema-max-decay (warm-up)
        unet.parameters(), decay=config.ema_max_decay, use_ema_warmup=True,
        inv_gamma=config.ema_inv_gamma, power=config.ema_power,
        model_cls=UNet2DModel, model_config=unet.config,
    ) if config.use_ema else None  # fmt: skip
    save_unets_in_checkpoints(accelerator, ema)
    run = TrainingProgress(
        config, accelerator, model, ema, config.noise_scheduler(), optimizer, lr_schedule,
        loader, steps, commands=state.get("commands", []) + [command_line(config, processes)],
        step=state.get("step", 0), train_seconds=state.get("train_seconds", 0.0),
        started=time.perf_counter() - state.get("wall_seconds", 0.0),
    )  # fmt: skip
    if checkpoint:  # model, EMA, optimizer, lr schedule and every process's RNG
        accelerator.load_state(str(checkpoint))
        accelerator.print(f"resumed from {checkpoint} at step {run.step}")
    # A resumed run drops what the killed run logged after its checkpoint, as CSVTracker does.
    tensorboard = {"purge_step": run.step + 1} if run.step else {}
    accelerator.init_trackers("train", init_kwargs={"tensorboard": tensorboard})
    return run


def make_accelerator(config: TrainConfig, resume_step: int) -> Accelerator:
    """The Accelerator, logging to metrics.csv and TensorBoard from ``resume_step`` on. Several
    processes without CUDA form one gloo CPU group (not N independent runs, nor ``mpirun``)."""
    out = Path(config.output_dir)
    trackers: list = [CSVTracker(out / "logs" / "metrics.csv", resume_step)]
    if config.tensorboard and is_tensorboard_available():
        trackers.append("tensorboard")
    return Accelerator(
        cpu=int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available(),
        mixed_precision=config.mixed_precision, log_with=trackers,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        project_dir=str(out / "logs"),  # TensorBoard writes to logs/train
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )  # fmt: skip


def save_unets_in_checkpoints(accelerator: Accelerator, ema: EMAModel | None) -> None:
    """Checkpoints hold ``unet/`` and ``unet_ema/`` in diffusers' format: ``from_pretrained``
    loads the EMA weights of a run that is still training."""

    def save(models: list, weights: list, folder: str) -> None:
        if accelerator.is_main_process:
            accelerator.unwrap_model(models[0]).save_pretrained(Path(folder) / "unet")
            if ema is not None:
                with torch.random.fork_rng(devices=[]):  # it builds a UNet to save
                    ema.save_pretrained(Path(folder) / "unet_ema")
        weights.pop()  # saved above; accelerate need not save it again

    def load(models: list, folder: str) -> None:
        unet = accelerator.unwrap_model(models.pop())
        unet.load_state_dict(load_file(Path(folder) / "unet" / SAFETENSORS_WEIGHTS_NAME))
        if ema is not None:  # not EMAModel.from_pretrained: it warns about the EMA's counters,
            counters = UNet2DModel.load_config(Path(folder) / "unet_ema")  # saved in this config
            averaged = load_file(Path(folder) / "unet_ema" / SAFETENSORS_WEIGHTS_NAME)
            shadow = [averaged[name] for name, _ in unet.named_parameters()]
            ema.load_state_dict(counters | {"shadow_params": shadow})  # it reads its own keys
            ema.to(accelerator.device)

    accelerator.register_save_state_pre_hook(save)
    accelerator.register_load_state_pre_hook(load)


def training_loop(run: TrainingProgress, hooks: Sequence[Hook] = ()) -> None:
    """Train until the step count, the time budget or a hook ends the run."""
    config, accelerator, model = run.config, run.accelerator, run.model
    scheduler, accumulation = run.noise_scheduler, config.gradient_accumulation_steps
    show = accelerator.is_local_main_process and config.progress_bar
    bar = tqdm(total=run.total_steps, initial=run.step, disable=not show, desc="train", unit="step")
    epoch, done_in_epoch = divmod(run.step, -(-len(run.loader) // accumulation))
    skip = done_in_epoch * accumulation  # batches of this epoch a resumed run has seen
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
                loss = diffusion_loss(prediction, clean, noise, t, scheduler, config.snr_gamma)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                run.optimizer.step()  # accelerate skips these until the last accumulated batch
                run.lr_scheduler.step()
                run.optimizer.zero_grad()
            losses.append(loss.item())
            if not accelerator.sync_gradients:  # still accumulating: no optimizer step yet
                continue
            run.step += 1
            if run.ema is not None:
                run.ema.step(model.parameters())
            seconds = time.perf_counter() - started
            run.train_seconds += seconds
            stop = any([bool(hook(run)) for hook in hooks])  # every hook runs
            stop |= config.max_minutes is not None and run.train_seconds >= config.max_minutes * 60
            # The mean loss of all processes, and whether any wants to stop, in one collective.
            shared = torch.tensor([sum(losses) / len(losses), stop], device=accelerator.device)
            loss, stop = accelerator.reduce(shared, reduction="mean").tolist()
            images = config.train_batch_size * accumulation * accelerator.num_processes
            speed, lr = round(images / max(seconds, 1e-9), 1), run.lr_scheduler.get_last_lr()[0]
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{speed:.0f}", lr=f"{lr:.1e}")
            logged = {"epoch": epoch, "loss": round(loss, 6), "lr": lr, "images_per_second": speed}
            accelerator.log(logged | {"train_seconds": round(run.train_seconds, 3)}, step=run.step)
            if config.checkpointing_steps and run.step % config.checkpointing_steps == 0:
                save_checkpoint(run)
            if config.save_samples_steps and run.step % config.save_samples_steps == 0:
                save_sample_grid(run, run.out / "samples" / f"step-{run.step:06d}.png")
            stop = stop > 0 or run.finished
            if stop:
                break
            losses, started = [], time.perf_counter()
        epoch += 1
    bar.close()


def diffusion_loss(
    prediction: Tensor, clean: Tensor, noise: Tensor, t: Tensor, scheduler: DDPMScheduler,
    snr_gamma: float | None = None,
) -> Tensor:  # fmt: skip
    """Mean squared error to the target of the prediction type (noise, v or the clean image);
    ``snr_gamma`` weights each image by min-SNR-gamma (Hang et al. 2023): each timestep counts as
    if the target were the clean image with weight min(SNR, gamma), so easy ones do not dominate."""
    kind = scheduler.config.prediction_type
    velocity = scheduler.get_velocity(clean, noise, t)  # v = sqrt(abar) noise - sqrt(1-abar) x0
    target = {"epsilon": noise, "sample": clean, "v_prediction": velocity}[kind]
    if not snr_gamma:
        return F.mse_loss(prediction.float(), target.float())
    per_image = F.mse_loss(prediction.float(), target.float(), reduction="none").mean((1, 2, 3))
    snr = compute_snr(scheduler, t)
    if kind == "epsilon":
        weight = (snr_gamma / snr).clamp(max=1)  # = min(SNR, gamma) / SNR, and 1 where SNR = 0
    elif kind == "v_prediction":
        weight = snr.clamp(max=snr_gamma) / (snr + 1)
    else:
        weight = snr.clamp(max=snr_gamma)
    return (per_image * weight).mean()


@dataclass
class CSVTracker(GeneralTracker):
    """An accelerate tracker writing ``logs/metrics.csv``, one row per optimizer step; a resumed
    run keeps the rows up to its checkpoint's step and continues after them."""

    path: Path
    resume_step: int = 0
    name, requires_logging_directory, tracker = "csv", False, None
    columns = ("step", "epoch", "loss", "lr", "train_seconds", "images_per_second")

    def start(self) -> None:
        resumed = self.resume_step and self.path.exists()
        rows = csv.DictReader(self.path.read_text(encoding="utf-8").splitlines() if resumed else [])
        kept = [row for row in rows if int(row["step"]) <= self.resume_step]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "w", newline="", encoding="utf-8")
        self.tracker = csv.DictWriter(self.handle, fieldnames=self.columns)
        self.tracker.writeheader()
        self.tracker.writerows(kept)

    def log(self, values: dict, step: int | None = None, **kwargs) -> None:
        self.tracker.writerow({"step": step, **values})
        self.handle.flush()

    def finish(self) -> None:
        self.handle.close()


def save_checkpoint(run: TrainingProgress) -> None:
    """accelerate's full state into a temp folder on every process, then an atomic rename."""
    accelerator, tmp = run.accelerator, ckpt.checkpoints_dir(run.out) / f"checkpoint-{run.step}.tmp"
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        ckpt.publish_checkpoint(tmp, run.state(), run.config.checkpoints_total_limit)
    accelerator.wait_for_everyone()


def save_sample_grid(
    run: TrainingProgress, path: Path, pipeline: DDPMPipeline | None = None
) -> None:
    """A grid of seeded samples (the same noise every time, so grids compare across steps)."""
    if run.accelerator.is_main_process:
        config = run.config
        path.parent.mkdir(parents=True, exist_ok=True)
        count, steps = config.num_sample_images, config.sample_inference_steps
        images = generate(pipeline or run.pipeline(), count, steps, seed=config.seed)
        image_grid(images, cols=min(8, len(images))).save(path)


def save_results(run: TrainingProgress) -> None:
    """Final checkpoint; the EMA pipeline with samples, score and card, published whole; upload."""
    config, out = run.config, run.out
    if config.checkpointing_steps and run.step % config.checkpointing_steps:  # else saved already
        save_checkpoint(run)
    if run.accelerator.is_main_process:
        pipeline, tmp, metric = run.pipeline(), out / ".pipeline.tmp", None
        shutil.rmtree(tmp, ignore_errors=True)
        pipeline.save_pretrained(str(tmp))
        if config.data_source == "digits" and config.channels == 1 and config.eval_samples > 1:
            steps, seed = config.eval_inference_steps, config.seed
            report = evaluate_pipeline(pipeline, config.eval_samples, steps, seed)
            metric = f"{report} ({report.num_samples} samples, {steps} sampling steps, seed {seed})"
        save_sample_grid(run, tmp / "samples.png", pipeline)
        state = run.state() | {"metric": metric}
        model_card(state, metric, run.repo_id).save(tmp / "README.md")
        ckpt.write_json_atomic(out / "logs" / "final_state.json", state)
        ckpt.publish_pipeline(tmp, out)
        print(f"saved pipeline to {out}" + (f" | {metric}" if metric else ""))
    run.accelerator.wait_for_everyone()
    run.accelerator.end_training()
    if run.accelerator.is_main_process and run.repo_id:
        pushed = push_folder(out, run.repo_id, config.hub_private)
        print(f"pushed to https://huggingface.co/{pushed}")


def command_line(config: TrainConfig, num_processes: int) -> str:
    """The command that reproduces this run, as a learner would type it."""
    threads = os.environ.get("OMP_NUM_THREADS")
    env = f"OMP_NUM_THREADS={threads} " if threads else ""
    launch = f"accelerate launch --multi_gpu --num_processes {num_processes}"
    launch = launch if num_processes > 1 else "python"
    return f"{env}{launch} -m diffusion_course.train {shlex.join(config.to_argv())}"


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: one ``error:`` line and status 2 on bad input, no traceback."""
    try:
        train(parse_args(argv))
    except UsageError as exc:
        message, status = f"error: {exc}", 2
    except KeyboardInterrupt:
        message, status = "interrupted; continue with --resume latest", 130
    else:
        return 0
    if os.environ.get("RANK", "0") == "0":  # one message, not one per process
        print(message, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
