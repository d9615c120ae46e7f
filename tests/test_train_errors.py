"""Bad input: one ``error:`` line naming problem and fix, exit status 2, nothing written."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from _train_helpers import (
    REPO,
    subprocess_env,
    tiny_args,
)
from PIL import Image

from diffusion_course.errors import UsageError
from diffusion_course.image_folder import ImageListDataset, scan_image_folder
from diffusion_course.train import main

pytestmark = pytest.mark.usefixtures("one_thread")


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    return code, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "run"


def test_missing_folder(out, tmp_path, capsys):
    code, err = run_main(tiny_args(out) + ["--data-dir", str(tmp_path / "nope")], capsys)
    assert_one_line_error(code, err, "does not exist", "nope")
    assert not out.exists()


def test_folder_without_images(out, tmp_path, capsys):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("no pictures here")
    code, err = run_main(tiny_args(out) + ["--data-dir", str(folder)], capsys)
    assert_one_line_error(code, err, "has no images", "point it at a folder of images")
    assert not out.exists()


def test_corrupt_image_is_named(out, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("L", (8, 8), 200).save(folder / "good.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    code, err = run_main(tiny_args(out) + ["--data-dir", str(folder)], capsys)
    assert_one_line_error(code, err, "broken.png", "remove or replace it")
    assert not out.exists()


def test_truncated_image_is_named(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (40, 40), (10, 200, 30)).save(folder / "cut.jpg")
    data = (folder / "cut.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(UsageError, match="cut.jpg"):
        scan_image_folder(folder)


def test_mixed_sizes_and_modes_are_converted(tmp_path):
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    Image.new("RGB", (30, 20), (255, 0, 0)).save(folder / "wide.png")
    Image.new("L", (8, 8), 128).save(folder / "small.jpg")
    Image.new("RGBA", (16, 16), (0, 0, 255, 0)).save(folder / "sub" / "alpha.png")
    Image.new("P", (12, 12)).save(folder / "palette.gif")
    (folder / "readme.md").write_text("ignored")
    files = scan_image_folder(folder)
    assert len(files) == 4
    for channels in (1, 3):
        dataset = ImageListDataset(files, resolution=8, channels=channels)
        for i in range(len(dataset)):
            pixels = dataset[i]["pixel_values"]
            assert pixels.shape == (channels, 8, 8)
            assert pixels.min() >= -1 and pixels.max() <= 1
    transparent = ImageListDataset([folder / "sub" / "alpha.png"], 8, 1)[0]["pixel_values"]
    assert transparent.min() == 1.0  # transparent pixels become white paper


def test_mixed_folder_trains_end_to_end(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(6):
        mode = ("RGB", "L", "RGBA")[i % 3]
        Image.new(mode, (8 + 4 * i, 10 + i), (i * 40,) * len(mode)).save(folder / f"{i}.png")
    out = tmp_path / "run"
    code = main(tiny_args(out, steps=2) + ["--data-dir", str(folder), "--channels", "3"])
    assert code == 0 and (out / "model_index.json").exists()


def test_output_dir_under_a_file(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code, err = run_main(tiny_args(blocker / "run"), capsys)
    assert_one_line_error(code, err, "file.txt")


def test_unwritable_output_dir(capsys):
    code, err = run_main(tiny_args(Path("/proc/diffusion-course-run")), capsys)
    assert_one_line_error(code, err, "not writable")


def test_resume_without_checkpoint(out, capsys):
    code, err = run_main(tiny_args(out) + ["--resume", "latest"], capsys)
    assert_one_line_error(code, err, "no checkpoint", "--resume")
    assert not out.exists()


def test_resume_path_that_is_not_a_checkpoint(out, tmp_path, capsys):
    code, err = run_main(tiny_args(out) + ["--resume", str(tmp_path)], capsys)
    assert_one_line_error(code, err, "not a checkpoint folder")


def test_resume_with_incompatible_config(out, capsys):
    assert main(tiny_args(out, steps=2)) == 0
    capsys.readouterr()
    before = sorted(p.name for p in (out / "checkpoints").iterdir())
    code, err = run_main(
        tiny_args(out, steps=4) + ["--resume", "latest", "--model", "small"], capsys
    )
    assert_one_line_error(code, err, "model='tiny'", "now 'small'")
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == before


def test_existing_run_is_not_overwritten_silently(out, capsys):
    assert main(tiny_args(out, steps=2)) == 0
    capsys.readouterr()
    code, err = run_main(tiny_args(out, steps=2), capsys)
    assert_one_line_error(code, err, "--resume latest")


def test_push_to_hub_offline(out, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, err = run_main(tiny_args(out) + ["--push-to-hub"], capsys)
    assert_one_line_error(code, err, "--push-to-hub", "HF_HUB_OFFLINE")
    assert not out.exists()


def test_push_to_hub_unreachable_never_prints_token(out, monkeypatch, capsys):
    secret = "hf_test_secret_value_123"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setattr("diffusion_course.hub.hub_reachable", lambda: False)
    code, err = run_main(tiny_args(out) + ["--push-to-hub"], capsys)
    assert_one_line_error(code, err, "--push-to-hub", "cannot reach")
    assert secret not in err
    assert not out.exists()


def test_push_to_hub_without_token(out, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    code, err = run_main(tiny_args(out) + ["--push-to-hub"], capsys)
    assert_one_line_error(code, err, "needs a Hugging Face token")


@pytest.fixture
def offline_flags(monkeypatch):
    """Restore the libraries' offline flags that hub.load_hub_images changes."""
    import datasets
    import huggingface_hub

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", datasets.config.HF_HUB_OFFLINE)
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_HUB_OFFLINE", huggingface_hub.constants.HF_HUB_OFFLINE
    )


@pytest.mark.parametrize("offline", ["1", "0"])
def test_hub_dataset_unreachable_fails_without_network(
    out, monkeypatch, capsys, offline, offline_flags
):
    """Fails at once: nothing tries to connect (connection retries are what would hang)."""
    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    monkeypatch.setattr("diffusion_course.hub.hub_reachable", lambda: False)
    name = "diffusion-course-tests/does-not-exist"
    code, err = run_main(tiny_args(out) + ["--dataset-name", name], capsys)
    assert_one_line_error(code, err, "--dataset-name", name)
    assert not out.exists()
    assert attempts == []


def test_empty_hub_dataset_is_refused(out, monkeypatch, capsys, offline_flags):
    """An empty split used to make the training loop spin forever."""
    import datasets

    empty = datasets.Dataset.from_dict(
        {"image": []}, features=datasets.Features({"image": datasets.Image()})
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: empty)
    code, err = run_main(tiny_args(out) + ["--dataset-name", "me/empty"], capsys)
    assert_one_line_error(code, err, "me/empty", "has no images", "--dataset-split")
    assert not out.exists()


def test_cli_subprocess_prints_one_line(tmp_path):
    """The real command: exit status 2, one line on stderr, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "diffusion_course.train", *tiny_args(tmp_path / "o")]
        + ["--data-dir", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --data-dir {tmp_path / 'missing'} does not exist; point it at a folder of images"
    ]
