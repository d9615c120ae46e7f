"""Train an unconditional DDPM and save it as a ``DDPMPipeline``: the course's training script.

Built like diffusers' ``train_unconditional.py`` on 🤗 accelerate, so the same file runs on a
CPU, one GPU, or several processes::

    python -m diffusion_course.train --output-dir ddpm-digits --max-steps 2000
    accelerate launch --num_processes 2 -m diffusion_course.train --output-dir ddpm-digits

Everything is validated before the output folder is created; bad input ends with one line
``error: <problem>; <fix>`` and exit status 2. Checkpoints are atomic, so a run killed at any
moment continues with ``--resume latest``. See ``--help`` for all options.
"""

from __future__ import annotations

import csv
import os
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
from accelerate.state import AcceleratorState
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel, compute_snr
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from diffusion_course import checkpoints as ckpt
from diffusion_course.errors import UsageError
from diffusion_course.image_folder import ImageListDataset, load_training_images
from diffusion_course.model_card import hardware_description, render_model_card
from diffusion_course.options import (
    TrainConfig,
    check_output_dir,
    parse_args,
    total_steps,
    validate_config,
)
from diffusion_course.presets import build_unet
from diffusion_course.recipes import noise_scheduler

LOG_COLUMNS = ("step", "epoch", "loss", "lr", "train_seconds", "images_per_second")
PIPELINE_ITEMS = ("unet", "scheduler", "README.md", "samples.png", "model_index.json")


@dataclass
class Prepared:
    """What validation produced: the images, the checkpoint to resume and its state."""

    images: list
    resume_from: Path | None = None
    resume_state: dict | None = None
    hub_token: str | None = None


@dataclass
class TrainingProgress:
    """Passed to hooks after every optimizer step (the benchmark evaluates from here).

    A hook may return True to end training after this step (as ``--max-minutes`` does).
    """

    step: int
    total_steps: int
    train_seconds: float
    config: TrainConfig
    accelerator: Accelerator
    model: torch.nn.Module
    ema: EMAModel | None
    noise_scheduler: DDPMScheduler
    extra: dict = field(default_factory=dict)

    def pipeline(self, use_ema: bool = True) -> DDPMPipeline:
        """A pipeline with the weights a sample should use now (EMA if enabled), on a copy."""
        unet = self.accelerator.unwrap_model(self.model)
        copy = UNet2DModel.from_config(unet.config)
        copy.load_state_dict(unet.state_dict())
        if use_ema and self.ema is not None:
            self.ema.copy_to(copy.parameters())
        scheduler = DDPMScheduler.from_config(self.noise_scheduler.config)
        return DDPMPipeline(unet=copy.eval(), scheduler=scheduler)


Hook = Callable[[TrainingProgress], "bool | None"]


def prepare_inputs(config: TrainConfig) -> Prepared:
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
    prepared = Prepared(images=images)
    if config.resume:
        prepared.resume_from = ckpt.resolve_resume(config.resume, config.output_dir)
        prepared.resume_state = ckpt.check_compatible(
            prepared.resume_from, config.resume_signature()
        )
    if config.push_to_hub:
        from diffusion_course.hub import check_push_to_hub

        prepared.hub_token = check_push_to_hub()
    return prepared


def make_accelerator(config: TrainConfig) -> Accelerator:
    """The Accelerator; several processes without CUDA become a gloo CPU group.

    ``accelerate launch --multi_gpu --num_processes N`` (or ``torchrun``) on a machine without
    a GPU would otherwise start N independent single-process runs. (``--cpu`` with N > 1 asks
    accelerate for MPI's ``mpirun`` instead.)
    """
    several = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return Accelerator(
        cpu=several and not torch.cuda.is_available(),
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        mixed_precision=config.mixed_precision,
        project_config=ProjectConfiguration(project_dir=config.output_dir),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )


def make_noise_scheduler(config: TrainConfig) -> DDPMScheduler:
    return noise_scheduler(
        config.num_train_timesteps,
        config.beta_schedule,
        config.prediction_type,
        config.rescale_betas_zero_snr,
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


def min_snr_weights(scheduler: DDPMScheduler, t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample loss weights of min-SNR-gamma (Hang et al. 2023): the loss of each timestep
    counts as if the target were x0 with weight min(SNR, gamma), whatever is predicted."""
    snr = compute_snr(scheduler, t)
    clipped = snr.clamp(max=gamma)
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return clipped / snr.clamp(min=1e-8)
    if kind == "v_prediction":
        return clipped / (snr + 1)
    return clipped


class MetricsLog:
    """metrics.csv (always) and TensorBoard (when installed), written by the main process."""

    def __init__(self, folder: Path, resume_step: int, tensorboard: bool) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "metrics.csv"
        kept = self._rows_up_to(resume_step)
        self.handle = open(self.path, "w", newline="", encoding="utf-8")
        self.writer = csv.DictWriter(self.handle, fieldnames=LOG_COLUMNS)
        self.writer.writeheader()
        self.writer.writerows(kept)
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(folder / "tensorboard"), purge_step=resume_step + 1)
            except ImportError:
                self.tb = None

    def _rows_up_to(self, step: int) -> list[dict]:
        """Rows a resumed run keeps: those the checkpoint already covers."""
        if not self.path.exists():
            return []
        with open(self.path, newline="", encoding="utf-8") as handle:
            return [row for row in csv.DictReader(handle) if int(row["step"]) <= step]

    def log(self, row: dict) -> None:
        self.writer.writerow(row)
        self.handle.flush()
        if self.tb is not None:
            for key in ("loss", "lr", "images_per_second"):
                self.tb.add_scalar(f"train/{key}", row[key], row["step"])

    def close(self) -> None:
        self.handle.close()
        if self.tb is not None:
            self.tb.close()


class Trainer:
    """The training loop; one instance per run, created after validation succeeded."""

    def __init__(self, config: TrainConfig, prepared: Prepared, hooks: Sequence[Hook]) -> None:
        self.config, self.prepared, self.hooks = config, prepared, list(hooks)
        self.out = Path(config.output_dir)
        self.accelerator = make_accelerator(config)
        set_seed(config.seed, device_specific=True)
        self._make_folders()
        self.noise_scheduler = make_noise_scheduler(config)
        model = build_unet(config.model, config.resolution, config.channels)
        self.ema = make_ema(config, model)
        dataset = ImageListDataset(
            prepared.images, config.resolution, config.channels, config.random_flip
        )
        loader = DataLoader(
            dataset,
            batch_size=config.train_batch_size,
            shuffle=True,
            num_workers=config.dataloader_num_workers,
            generator=torch.Generator().manual_seed(config.seed),
        )
        acc = self.accelerator
        self.total_steps = total_steps(config, len(dataset), acc.num_processes)
        optimizer = torch.optim.AdamW(
            model.parameters(),
            lr=config.learning_rate,
            betas=(config.adam_beta1, config.adam_beta2),
            weight_decay=config.adam_weight_decay,
        )
        lr_scheduler = get_scheduler(
            config.lr_scheduler,
            optimizer=optimizer,
            num_warmup_steps=config.lr_warmup_steps * acc.num_processes,
            num_training_steps=max(self.total_steps, 1) * acc.num_processes,
        )
        self.model, self.optimizer, self.loader, self.lr_scheduler = acc.prepare(
            model, optimizer, loader, lr_scheduler
        )
        if self.ema is not None:
            self.ema.to(acc.device)
            acc.register_for_checkpointing(self.ema)
        self.step, self.train_seconds, self.wall_before = 0, 0.0, 0.0
        self.commands = [command_line(config, acc.num_processes)]
        self._resume()
        self.started = time.perf_counter()

    def _make_folders(self) -> None:
        if self.accelerator.is_main_process:
            ckpt.checkpoints_dir(self.out).mkdir(parents=True, exist_ok=True)
            ckpt.remove_stale_tmp(self.out)
        self.accelerator.wait_for_everyone()

    def _resume(self) -> None:
        state = self.prepared.resume_state
        if state is not None:
            self.accelerator.load_state(str(self.prepared.resume_from))
            self.step = int(state["step"])
            self.train_seconds = float(state["train_seconds"])
            self.wall_before = float(state.get("wall_seconds", 0.0))
            self.commands = list(state.get("commands", [])) + self.commands
            self.accelerator.print(f"resumed from {self.prepared.resume_from} at step {self.step}")
        self.log = None
        if self.accelerator.is_main_process:
            self.log = MetricsLog(self.out / "logs", self.step, self.config.tensorboard)

    @property
    def steps_per_epoch(self) -> int:
        return max(1, -(-len(self.loader) // self.config.gradient_accumulation_steps))

    def state(self) -> dict:
        """The trainer state saved with each checkpoint and used for the model card."""
        return {
            "step": self.step,
            "total_steps": self.total_steps,
            "train_seconds": self.train_seconds,
            "wall_seconds": self.wall_before + time.perf_counter() - self.started,
            "config": self.config.to_dict(),
            "signature": self.config.resume_signature(),
            "commands": self.commands,
            "num_processes": self.accelerator.num_processes,
            "hardware": hardware_description(),
            "diffusers_version": diffusers.__version__,
        }

    def run(self) -> Path:
        """Train until the step count or time budget is reached, then save the pipeline."""
        acc = self.accelerator
        bar = tqdm(
            total=self.total_steps if self.total_steps < 10**9 else None,
            initial=self.step,
            disable=not (acc.is_local_main_process and self.config.progress_bar),
            desc="train",
            unit="step",
        )
        epoch = self.step // self.steps_per_epoch
        skip = (self.step % self.steps_per_epoch) * self.config.gradient_accumulation_steps
        done = self._finished()
        while not done:
            self.loader.set_epoch(epoch)
            batches = acc.skip_first_batches(self.loader, skip) if skip else self.loader
            skip = 0
            mark, loss_sum, micro = time.perf_counter(), 0.0, 0
            for batch in batches:
                loss_sum += self._micro_step(batch["pixel_values"])
                micro += 1
                if not acc.sync_gradients:
                    continue
                self.step += 1
                stop = self._after_step(loss_sum / micro, epoch, mark, bar)
                done = stop or self._finished()
                if done:
                    break
                mark, loss_sum, micro = time.perf_counter(), 0.0, 0
            epoch += 1
        bar.close()
        return self._finish()

    def _finished(self) -> bool:
        return self.step >= self.total_steps

    def _micro_step(self, clean: torch.Tensor) -> float:
        noise = torch.randn_like(clean)
        t = torch.randint(
            0, self.config.num_train_timesteps, (clean.shape[0],), device=clean.device
        ).long()
        noisy = self.noise_scheduler.add_noise(clean, noise, t)
        with self.accelerator.accumulate(self.model):
            pred = self.model(noisy, t, return_dict=False)[0]
            target = training_target(self.noise_scheduler, clean, noise, t)
            if self.config.snr_gamma:
                per_image = F.mse_loss(pred.float(), target.float(), reduction="none")
                weights = min_snr_weights(self.noise_scheduler, t, self.config.snr_gamma)
                loss = (per_image.mean((1, 2, 3)) * weights).mean()
            else:
                loss = F.mse_loss(pred.float(), target.float())
            self.accelerator.backward(loss)
            if self.accelerator.sync_gradients:
                self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
            self.optimizer.step()
            self.lr_scheduler.step()
            self.optimizer.zero_grad()
        return loss.detach().item()

    def _after_step(self, loss: float, epoch: int, mark: float, bar: tqdm) -> bool:
        """EMA, logging, checkpoints, samples and hooks; return True when time is up."""
        acc = self.accelerator
        if self.ema is not None:
            self.ema.step(self.model.parameters())
        seconds = time.perf_counter() - mark
        self.train_seconds += seconds
        out_of_time = self.config.max_minutes and self.train_seconds >= self.config.max_minutes * 60
        if self.hooks:
            progress = self.progress()
            out_of_time = any([bool(hook(progress)) for hook in self.hooks]) or out_of_time
        # One collective per step: the mean loss and whether any process wants to stop.
        flags = torch.tensor([loss, float(bool(out_of_time))], device=acc.device)
        flags = acc.reduce(flags, reduction="mean")
        loss, stop = flags[0].item(), bool(flags[1].item() > 0)
        images = self.config.train_batch_size * self.config.gradient_accumulation_steps
        speed = images * acc.num_processes / max(seconds, 1e-9)
        lr = self.lr_scheduler.get_last_lr()[0]
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{speed:.0f}", lr=f"{lr:.1e}")
        if self.log is not None:
            self.log.log(
                {
                    "step": self.step,
                    "epoch": epoch,
                    "loss": round(loss, 6),
                    "lr": lr,
                    "train_seconds": round(self.train_seconds, 3),
                    "images_per_second": round(speed, 1),
                }
            )
        every = self.config.checkpointing_steps
        if every and self.step % every == 0:
            self.save_checkpoint()
        every = self.config.save_samples_steps
        if every and self.step % every == 0 and acc.is_main_process:
            self.save_sample_grid(self.out / "samples" / f"step-{self.step:06d}.png")
        return stop

    def progress(self) -> TrainingProgress:
        return TrainingProgress(
            step=self.step,
            total_steps=self.total_steps,
            train_seconds=self.train_seconds,
            config=self.config,
            accelerator=self.accelerator,
            model=self.model,
            ema=self.ema,
            noise_scheduler=self.noise_scheduler,
        )

    def save_checkpoint(self) -> Path:
        """accelerate's full state into a temp folder on every process, then an atomic rename."""
        acc = self.accelerator
        tmp = ckpt.tmp_path(self.out, self.step)
        if acc.is_main_process and tmp.exists():
            shutil.rmtree(tmp)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))
        acc.wait_for_everyone()
        final = ckpt.checkpoints_dir(self.out) / f"checkpoint-{self.step}"
        if acc.is_main_process:
            final = ckpt.publish_checkpoint(
                self.out, self.step, self.state(), self.config.checkpoints_total_limit
            )
        acc.wait_for_everyone()
        return final

    def save_sample_grid(self, path: Path) -> None:
        from diffusion_course.evaluate import generate
        from diffusion_course.plotting import image_grid

        path.parent.mkdir(parents=True, exist_ok=True)
        images = generate(
            self.progress().pipeline(),
            self.config.num_sample_images,
            self.config.sample_inference_steps,
            seed=self.config.seed,
        )
        image_grid(images, cols=min(8, len(images))).save(path)

    def _finish(self) -> Path:
        """Final checkpoint, pipeline with EMA weights, metric, model card, optional upload."""
        acc = self.accelerator
        last = ckpt.list_checkpoints(self.out)
        every = self.config.checkpointing_steps
        if every and not (last and last[-1].name == f"checkpoint-{self.step}"):
            self.save_checkpoint()
        acc.wait_for_everyone()
        if acc.is_main_process:
            self._save_pipeline()
            self.log.close()
        acc.wait_for_everyone()
        acc.end_training()
        if acc.num_processes == 1:
            # accelerate keeps one global state per process; clearing it lets a notebook or the
            # benchmark start another run in the same process with other settings (e.g. bf16).
            AcceleratorState._reset_state(reset_partial_state=True)
        return self.out

    def _save_pipeline(self) -> None:
        pipeline = self.progress().pipeline()
        tmp = self.out / ".pipeline.tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        pipeline.save_pretrained(str(tmp), safe_serialization=True)
        metric = self._measure(pipeline)
        self.save_sample_grid(tmp / "samples.png")
        state = self.state()
        state["metric"] = metric
        (tmp / "README.md").write_text(render_model_card(state, metric), encoding="utf-8")
        ckpt.write_json_atomic(self.out / "logs" / "final_state.json", state)
        ckpt.fsync_tree(tmp)
        for name in PIPELINE_ITEMS:  # model_index.json last: it marks a complete pipeline
            target = self.out / name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(tmp / name, target)
        shutil.rmtree(tmp)
        print(f"saved pipeline to {self.out}" + (f" | {metric}" if metric else ""))
        if self.config.push_to_hub:
            from diffusion_course.hub import push_folder

            repo = self.config.hub_model_id or self.out.resolve().name
            pushed = push_folder(self.out, repo, self.prepared.hub_token, self.config.hub_private)
            print(f"pushed to https://huggingface.co/{pushed}")

    def _measure(self, pipeline: DDPMPipeline) -> str | None:
        """The digits metric, when the run trained on greyscale digits."""
        config = self.config
        if config.data_source != "digits" or config.channels != 1 or config.eval_samples < 2:
            return None
        from diffusion_course.evaluate import evaluate_pipeline

        report = evaluate_pipeline(
            pipeline, config.eval_samples, config.eval_inference_steps, config.seed
        )
        return (
            f"{report} ({report.num_samples} samples, {config.eval_inference_steps} "
            f"sampling steps, seed {config.seed})"
        )


def command_line(config: TrainConfig, num_processes: int) -> str:
    """The command that reproduces this run, as a learner would type it."""
    import shlex

    args = shlex.join(config.argv)
    threads = os.environ.get("OMP_NUM_THREADS")
    env = f"OMP_NUM_THREADS={threads} " if threads else ""
    if num_processes > 1:
        launcher = f"accelerate launch --multi_gpu --num_processes {num_processes}"
        return f"{env}{launcher} -m diffusion_course.train {args}"
    return f"{env}python -m diffusion_course.train {args}"


def train(config: TrainConfig, hooks: Sequence[Hook] = ()) -> Path:
    """Validate, train and save; return the output folder. Raises UsageError on bad input."""
    prepared = prepare_inputs(config)
    return Trainer(config, prepared, hooks).run()


def _is_main_rank() -> bool:
    return os.environ.get("RANK", "0") == "0"


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point: one ``error:`` line and status 2 on bad input, no traceback."""
    config = parse_args(argv)
    try:
        train(config)
    except UsageError as exc:
        if _is_main_rank():
            print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if _is_main_rank():
            print("interrupted; continue with --resume latest", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
