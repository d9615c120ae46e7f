"""The training script end to end: a short run, resume, kill-and-resume, two processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _train_helpers import (
    REPO,
    logged_steps,
    subprocess_env,
    tiny_args,
)
from diffusers import DDPMPipeline, UNet2DModel

from diffusion_course import checkpoints as ckpt
from diffusion_course.options import parse_args
from diffusion_course.train import main, train

pytestmark = pytest.mark.usefixtures("one_thread")


def test_short_run_saves_a_loadable_pipeline_with_card(tmp_path, monkeypatch):
    out = tmp_path / "run"
    argv = tiny_args(out, steps=4) + ["--eval-samples", "8", "--eval-inference-steps", "2"]
    argv += ["--save-samples-steps", "2", "--tensorboard"]
    assert main(argv) == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipeline = DDPMPipeline.from_pretrained(str(out))
    assert pipeline.unet.config.sample_size == 8
    assert (out / "unet" / "diffusion_pytorch_model.safetensors").exists()
    assert (out / "samples" / "step-000002.png").exists() and (out / "samples.png").exists()
    assert logged_steps(out) == [1, 2, 3, 4]
    card = (out / "README.md").read_text()
    assert "python -m diffusion_course.train --output-dir" in card
    assert "seed: 0" in card and "hardware: " in card and "training time:" in card
    assert "KID " in card and "real vs real" in card
    assert not list(out.glob("*.tmp")) and not list((out / "checkpoints").glob("*.tmp"))
    assert list((out / "logs" / "train").glob("events.out.tfevents.*"))
    assert card.startswith("---\n") and "library_name: diffusers" in card
    assert f'from_pretrained("{out}")' in card
    images = pipeline(batch_size=2, num_inference_steps=2, output_type="np").images
    assert images.shape == (2, 8, 8, 1)


def test_checkpoints_rotate_to_the_last_k(tmp_path):
    out = tmp_path / "run"
    assert main(tiny_args(out, steps=6, every=1) + ["--checkpoints-total-limit", "2"]) == 0
    assert [p.name for p in ckpt.list_checkpoints(out)] == ["checkpoint-5", "checkpoint-6"]


def test_resume_continues_steps_and_optimizer_state(tmp_path):
    out = tmp_path / "run"
    assert main(tiny_args(out, steps=4, every=2)) == 0
    seen = []
    config = parse_args(tiny_args(out, steps=7, every=2) + ["--resume", "latest"])
    train(config, hooks=[lambda progress: seen.append(progress.step)])
    assert seen == [5, 6, 7]
    assert logged_steps(out) == [1, 2, 3, 4, 5, 6, 7]
    state = torch.load(out / "checkpoints" / "checkpoint-7" / "optimizer.bin", weights_only=False)
    adam_steps = {int(s["step"]) for s in state["state"].values()}
    assert adam_steps == {7}  # a fresh optimizer would have counted 3
    trainer_state = ckpt.read_state(out / "checkpoints" / "checkpoint-7")
    assert len(trainer_state["commands"]) == 2 and "--resume latest" in trainer_state["commands"][1]
    ema_config = json.loads(
        (out / "checkpoints" / "checkpoint-7" / "unet_ema" / "config.json").read_text()
    )
    assert ema_config["optimization_step"] == 7


def test_checkpoint_holds_unets_that_diffusers_loads(tmp_path):
    """The EMA weights of a checkpoint load with from_pretrained; here they are the final ones."""
    out = tmp_path / "run"
    assert main(tiny_args(out, steps=2, every=2)) == 0
    checkpoint = out / "checkpoints" / "checkpoint-2"
    final = UNet2DModel.from_pretrained(out / "unet").state_dict()
    ema = UNet2DModel.from_pretrained(checkpoint / "unet_ema").state_dict()
    raw = UNet2DModel.from_pretrained(checkpoint / "unet").state_dict()
    assert all(torch.equal(ema[k], final[k]) for k in final)
    assert not all(torch.equal(raw[k], final[k]) for k in final)  # EMA differs from raw


def test_interrupted_save_is_ignored_and_cleaned(tmp_path):
    out = tmp_path / "run"
    assert main(tiny_args(out, steps=2, every=2)) == 0
    partial = out / "checkpoints" / "checkpoint-9.tmp"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half a file")
    (out / "checkpoints" / "checkpoint-8").mkdir()  # no trainer_state.json: not complete
    assert ckpt.list_checkpoints(out)[-1].name == "checkpoint-2"
    assert main(tiny_args(out, steps=3, every=2) + ["--resume", "latest"]) == 0
    assert not partial.exists()
    assert logged_steps(out) == [1, 2, 3]


def wait_for_checkpoint(out: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not ckpt.list_checkpoints(out):
        assert process.poll() is None, "training ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_then_resume_finishes(tmp_path):
    out = tmp_path / "run"
    steps = 200
    argv = [sys.executable, "-m", "diffusion_course.train", *tiny_args(out, steps, every=5)]
    process = subprocess.Popen(
        argv, env=subprocess_env(), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_for_checkpoint(out, process)
        time.sleep(0.1)  # let it run on into the next save, wherever it is
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (out / "model_index.json").exists()
    killed_at = ckpt.read_state(ckpt.list_checkpoints(out)[-1])["step"]
    assert killed_at < steps
    resumed = subprocess.run(
        argv + ["--resume", "latest"], env=subprocess_env(), cwd=REPO,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from {out / 'checkpoints' / f'checkpoint-{killed_at}'}" in resumed.stdout
    assert logged_steps(out) == list(range(1, steps + 1))
    assert (out / "model_index.json").exists()
    final = json.loads((out / "logs" / "final_state.json").read_text())
    assert final["step"] == steps and len(final["commands"]) == 2


@pytest.mark.slow
def test_two_cpu_processes_train_and_save_once(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", "29517", "-m", "diffusion_course.train", *tiny_args(out, 6, 3),
    ]  # fmt: skip
    env = subprocess_env()
    env.pop("CUDA_VISIBLE_DEVICES", None)
    if torch.cuda.is_available():
        pytest.skip("this test checks the CPU (gloo) path")
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("saved pipeline to") == 1
    assert logged_steps(out) == [1, 2, 3, 4, 5, 6]
    state = ckpt.read_state(out / "checkpoints" / "checkpoint-6")
    assert state["num_processes"] == 2
    names = {p.name for p in (out / "checkpoints" / "checkpoint-6").iterdir()}
    assert {"random_states_0.pkl", "random_states_1.pkl"} <= names
    assert (out / "model_index.json").exists()


def test_epochs_with_accumulation_and_bf16(tmp_path):
    """In a subprocess: accelerate allows one mixed-precision setting per process."""
    out = tmp_path / "run"
    argv = tiny_args(out, steps=1, every=0)
    argv[argv.index("--max-train-steps") : argv.index("--max-train-steps") + 2] = []
    argv += ["--num-epochs", "1", "--train-batch-size", "128", "--gradient-accumulation-steps"]
    argv += ["2", "--mixed-precision", "bf16", "--no-ema", "--prediction-type", "v_prediction"]
    command = [sys.executable, "-m", "diffusion_course.train", *argv]
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert logged_steps(out) == list(range(1, 7))  # 1438 digits / (128 x 2) -> 6 steps
    assert not ckpt.list_checkpoints(out)  # --checkpointing-steps 0 saves none
    assert (out / "model_index.json").exists()


def test_time_budget_alone_ends_the_run(tmp_path):
    """--max-minutes without a step count: no step total (None), the budget stops the loop."""
    out = tmp_path / "run"
    argv = tiny_args(out, steps=1, every=0)
    argv[argv.index("--max-train-steps") : argv.index("--max-train-steps") + 2] = []
    argv += ["--max-minutes", "0.002", "--lr-scheduler", "constant_with_warmup"]
    assert main(argv) == 0
    state = json.loads((out / "logs" / "final_state.json").read_text())
    assert state["total_steps"] is None and state["train_seconds"] >= 0.12
    assert logged_steps(out) == list(range(1, state["step"] + 1))
