"""Atomic checkpoints: ``checkpoints/checkpoint-<step>/`` holds accelerate's state (model, EMA,
optimizer, lr schedule, every process's RNG) and ``trainer_state.json``. Assembled in a ``.tmp``
sibling, fsynced and renamed into place, so a killed save never leaves a broken checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from diffusion_course.errors import UsageError
from diffusion_course.options import TrainConfig

STATE_FILE = "trainer_state.json"


def checkpoints_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def fsync(path: Path, tree: bool = False) -> None:
    """Flush a folder's entries (and with ``tree`` all under it), so that a rename is durable."""
    for root, _dirs, files in os.walk(path) if tree else [(path, [], [])]:
        for name in [*files, "."]:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON to a flushed temporary file and ``os.replace`` it: never half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def publish_pipeline(tmp: Path, output_dir: Path) -> None:
    """Move an assembled pipeline into ``output_dir`` with ``model_index.json`` last: it makes
    a folder loadable, so a crash midway leaves a folder that ``from_pretrained`` refuses."""
    fsync(tmp, tree=True)
    for item in sorted(tmp.iterdir(), key=lambda p: p.name == "model_index.json"):
        shutil.rmtree(output_dir / item.name, ignore_errors=True)
        os.replace(item, output_dir / item.name)
    fsync(output_dir)
    tmp.rmdir()


def publish_checkpoint(tmp: Path, state: dict, keep: int) -> Path:
    """Add the trainer state to an assembled ``checkpoint-<step>.tmp``, fsync, rename, rotate."""
    final = tmp.with_suffix("")
    write_json_atomic(tmp / STATE_FILE, state)
    fsync(tmp, tree=True)
    shutil.rmtree(final, ignore_errors=True)  # the same step saved again after a resume
    os.replace(tmp, final)
    fsync(final.parent)
    for old in list_checkpoints(final.parent.parent)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints (those with a trainer state), oldest first."""
    found = [
        (int(match[1]), path)
        for path in checkpoints_dir(output_dir).glob("checkpoint-*")
        if (match := re.fullmatch(r"checkpoint-(\d+)", path.name)) and (path / STATE_FILE).is_file()
    ]
    return [path for _, path in sorted(found)]


def make_checkpoints_dir(output_dir: str | Path) -> None:
    """Create ``checkpoints/``, or delete what a save killed before its rename left there."""
    checkpoints_dir(output_dir).mkdir(parents=True, exist_ok=True)
    for path in checkpoints_dir(output_dir).glob("*.tmp"):
        shutil.rmtree(path, ignore_errors=True)


def read_state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))


def find_resume(config: TrainConfig) -> tuple[Path, dict]:
    """The checkpoint ``--resume`` names and its state; UsageError if none or trained otherwise."""
    resume, output_dir, signature = config.resume, config.output_dir, config.resume_signature()
    found = list_checkpoints(output_dir) if resume == "latest" else [Path(resume)]
    if not found:
        raise UsageError(
            f"--resume latest: no checkpoint in {checkpoints_dir(output_dir)}; "
            "start without --resume or point --output-dir at the earlier run"
        )
    if not (found[-1] / STATE_FILE).is_file():
        raise UsageError(
            f"--resume {resume} is not a checkpoint folder (no {STATE_FILE}); "
            "pass --resume latest or a checkpoints/checkpoint-<step> folder"
        )
    state = read_state(found[-1])
    saved = {key: state["config"].get(key) for key in signature}
    diffs = [f"{k}={saved[k]!r} (now {v!r})" for k, v in signature.items() if saved[k] != v]
    if diffs:
        raise UsageError(
            f"--resume {found[-1]}: checkpoint was trained with {', '.join(diffs)}; "
            "use the original options or a new --output-dir"
        )
    return found[-1], state
