"""Everything that talks to the Hugging Face Hub. The build and the tests run offline, so every
Hub call is checked first and fails fast with one sentence naming the fix. ``huggingface_hub``
reads the token (``HF_TOKEN`` or ``hf auth login``); it is never printed or written anywhere.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import datasets
import huggingface_hub

from diffusion_course.errors import UsageError
from diffusion_course.options import TrainConfig


def hub_reachable(timeout: float = 5.0) -> bool:
    """True if a TCP connection to the Hub endpoint opens within ``timeout`` seconds."""
    url = urlparse(huggingface_hub.constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_offline() -> bool:
    """True when the user switched the Hub off (``HF_HUB_OFFLINE=1``)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def load_hub_images(name: str, split: str, image_column: str | None) -> list:
    """Load a Hub dataset's images, failing fast with one line when the Hub is out of reach."""
    if hub_offline():  # both libraries read the variable once, at import: tell them now, or
        datasets.config.HF_HUB_OFFLINE = True  # they retry the network for tens of seconds
        huggingface_hub.constants.HF_HUB_OFFLINE = True
    elif not hub_reachable():
        raise UsageError(
            f"--dataset-name {name}: cannot reach the Hugging Face Hub; check your connection, "
            "or set HF_HUB_OFFLINE=1 to use a cached copy, or use --data-dir"
        )
    try:
        dataset = datasets.load_dataset(name, split=split)
    except Exception as exc:  # datasets raises many types; the user needs the reason only
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise UsageError(
            f"--dataset-name {name} (split {split}) could not be loaded: {reason}; "
            "check the id and split, or use --data-dir"
        ) from None
    images = (c for c, feature in dataset.features.items() if isinstance(feature, datasets.Image))
    column = image_column or next(images, None)
    if column not in dataset.column_names:
        raise UsageError(
            f"--dataset-name {name} has no image column {image_column or ''}; "
            f"pass --image-column (columns: {', '.join(dataset.column_names)})"
        )
    if len(dataset) == 0:
        raise UsageError(
            f"--dataset-name {name}: split {split} has no images; pick another --dataset-split"
        )
    return list(dataset[column])


def check_push_to_hub(config: TrainConfig) -> str:
    """Check before training that an upload can work; return the repo id (``user/name``)."""
    name = config.hub_model_id or Path(config.output_dir).resolve().name
    if hub_offline():
        raise UsageError("--push-to-hub cannot upload with HF_HUB_OFFLINE=1; unset it")
    if not (token := huggingface_hub.get_token()):
        raise UsageError("--push-to-hub needs a Hugging Face token (`hf auth login` or HF_TOKEN)")
    if not hub_reachable():
        raise UsageError(
            "--push-to-hub: cannot reach the Hugging Face Hub; check your connection "
            "or drop --push-to-hub and upload the folder later"
        )
    try:
        user = huggingface_hub.whoami(token=token)["name"]
    except Exception as exc:  # invalid token or network trouble; never echo the token
        raise UsageError(
            f"--push-to-hub: the Hub refused the token ({type(exc).__name__}); "
            "log in again with `hf auth login`"
        ) from None
    return name if "/" in name else f"{user}/{name}"


def push_folder(folder: Path, repo_id: str, private: bool) -> str:
    """Create the model repo if needed and upload the pipeline (not checkpoints or logs)."""
    repo = huggingface_hub.create_repo(repo_id, private=private, exist_ok=True)
    huggingface_hub.upload_folder(
        repo_id=repo.repo_id, folder_path=str(folder),
        ignore_patterns=["checkpoints/*", "logs/*", "*.tmp"],
        commit_message="Upload DDPM pipeline trained with diffusion_course.train",
    )  # fmt: skip
    return repo.repo_id
