"""Atomic checkpoints: save, find the latest complete one, rotate, and check compatibility.

A checkpoint is ``<output>/checkpoints/checkpoint-<step>/`` holding accelerate's state
(model, optimizer, lr scheduler, EMA, RNG of every process) plus ``trainer_state.json``
(step count, elapsed time, config). It is written into a temporary sibling folder, every file
is fsynced, and the folder is renamed into place; a crash or SIGKILL during a save therefore
leaves either the previous checkpoints or a ``.tmp`` folder that resume ignores and cleans up,
never a checkpoint that fails to load.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from diffusion_course.errors import UsageError

STATE_FILE = "trainer_state.json"
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
TMP_SUFFIX = ".tmp"


def checkpoints_dir(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def tmp_path(output_dir: str | Path, step: int) -> Path:
    """Where a checkpoint is assembled before the rename (same parent: rename is atomic)."""
    return checkpoints_dir(output_dir) / f"checkpoint-{step}{TMP_SUFFIX}"


def fsync_tree(path: Path) -> None:
    """Flush every file and directory under ``path`` to disk so a rename publishes data."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(root))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON via a temporary file and ``os.replace`` so readers never see half a file."""
    tmp = path.with_name(path.name + TMP_SUFFIX)
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def remove_tree(path: Path) -> None:
    """Delete a folder left by an earlier attempt, if there is one."""
    if path.exists():
        shutil.rmtree(path)


def publish_pipeline(tmp: Path, output_dir: Path) -> None:
    """Move an assembled pipeline from ``tmp`` into ``output_dir``, ``model_index.json`` last.

    ``model_index.json`` is what makes a folder loadable, so a crash midway leaves a folder
    that ``DDPMPipeline.from_pretrained`` refuses rather than one with mixed weights.
    """
    fsync_tree(tmp)
    for item in sorted(tmp.iterdir(), key=lambda p: p.name == "model_index.json"):
        target = output_dir / item.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(item, target)
    _fsync_dir(output_dir)
    tmp.rmdir()


def publish_checkpoint(output_dir: str | Path, step: int, state: dict, keep: int) -> Path:
    """Add the trainer state to the assembled temp folder, fsync, rename it, and rotate."""
    tmp = tmp_path(output_dir, step)
    write_json_atomic(tmp / STATE_FILE, state)
    fsync_tree(tmp)
    final = checkpoints_dir(output_dir) / f"checkpoint-{step}"
    if final.exists():  # the same step saved again after a resume: replace it
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    rotate_checkpoints(output_dir, keep)
    return final


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints (those with a trainer state), oldest first."""
    root = checkpoints_dir(output_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = CHECKPOINT_RE.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def rotate_checkpoints(output_dir: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints."""
    for old in list_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def remove_stale_tmp(output_dir: str | Path) -> None:
    """Remove folders left by a save that was interrupted before its rename."""
    root = checkpoints_dir(output_dir)
    if root.is_dir():
        for path in root.glob(f"*{TMP_SUFFIX}"):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()


def read_state(checkpoint: Path) -> dict:
    with open(checkpoint / STATE_FILE, encoding="utf-8") as handle:
        return json.load(handle)


def resolve_resume(resume: str, output_dir: str | Path) -> Path:
    """Turn ``--resume latest|PATH`` into a checkpoint folder, or raise UsageError."""
    if resume == "latest":
        found = list_checkpoints(output_dir)
        if not found:
            raise UsageError(
                f"--resume latest: no checkpoint in {checkpoints_dir(output_dir)}; "
                "start without --resume or point --output-dir at the earlier run"
            )
        return found[-1]
    path = Path(resume)
    if not (path / STATE_FILE).is_file():
        raise UsageError(
            f"--resume {path} is not a checkpoint folder (no {STATE_FILE}); "
            "pass --resume latest or a checkpoints/checkpoint-<step> folder"
        )
    return path


def check_compatible(checkpoint: Path, signature: dict) -> dict:
    """Return the checkpoint's state if its run had the same essential settings."""
    state = read_state(checkpoint)
    saved = state.get("signature", {})
    diffs = [f"{k}={saved.get(k)!r} (now {v!r})" for k, v in signature.items() if saved.get(k) != v]
    if diffs:
        raise UsageError(
            f"--resume {checkpoint}: checkpoint was trained with {', '.join(diffs)}; "
            "use the original options or a new --output-dir"
        )
    return state


__all__ = [
    "STATE_FILE",
    "check_compatible",
    "checkpoints_dir",
    "fsync_tree",
    "list_checkpoints",
    "publish_checkpoint",
    "publish_pipeline",
    "read_state",
    "remove_stale_tmp",
    "remove_tree",
    "resolve_resume",
    "rotate_checkpoints",
    "tmp_path",
    "write_json_atomic",
]
