"""Training images from the bundled digits, a local folder or a Hub dataset, checked first.

Every source is validated completely *before* the training script creates its output folder:
a missing folder, a folder without images, a file that does not decode, or a Hub dataset that
cannot be reached each stop the run with one sentence naming the problem and the fix. Images of
mixed sizes and modes are accepted on purpose (learners collect them from anywhere): each one
is converted to the requested channels and resized/centre-cropped to the training resolution.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from diffusion_course.data import digit_pil_images, pil_to_tensor
from diffusion_course.errors import UsageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
HUB_TIMEOUT_S = 5.0


class ImageListDataset(Dataset):
    """Images (PIL or file paths) turned into ``{"pixel_values": (C, H, W) in [-1, 1]}``."""

    def __init__(self, images: list, resolution: int, channels: int, random_flip: bool = False):
        self.images = images
        self.resolution = resolution
        self.channels = channels
        self.random_flip = random_flip

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        item = self.images[index]
        image = _open_image(item) if isinstance(item, (str, Path)) else item
        image = fit_image(image, self.resolution)
        tensor = pil_to_tensor(image, self.channels)
        if self.random_flip and torch.rand(()) < 0.5:
            tensor = tensor.flip(-1)
        return {"pixel_values": tensor}


def fit_image(image: PILImage.Image, resolution: int) -> PILImage.Image:
    """Resize the shorter side to ``resolution`` and centre-crop, as diffusers' example does."""
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        if image.mode == "RGBA":  # transparent parts become white paper, not black
            background = PILImage.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            image = background
    if image.size == (resolution, resolution):
        return image
    return ImageOps.fit(image, (resolution, resolution), PILImage.Resampling.BICUBIC)


def _open_image(path: str | Path) -> PILImage.Image:
    with PILImage.open(path) as image:
        image.load()
        return image.copy()


def scan_image_folder(data_dir: str | Path) -> list[Path]:
    """Return every image file under ``data_dir``; raise UsageError naming any bad file.

    Files with other extensions (notes, metadata.csv, hidden files) are skipped; a file with an
    image extension that does not decode is an error, since silently training on fewer images
    than the learner collected hides a broken download.
    """
    folder = Path(data_dir)
    if not folder.exists():
        raise UsageError(f"--data-dir {folder} does not exist; point it at a folder of images")
    if not folder.is_dir():
        raise UsageError(f"--data-dir {folder} is a file; point it at the folder that holds it")
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not files:
        exts = "/".join(ext.lstrip(".") for ext in IMAGE_EXTENSIONS[:4])
        raise UsageError(
            f"--data-dir {folder} has no images (.{exts}/...); point it at a folder of images"
        )
    for path in files:
        _check_decodes(path)
    return files


def _check_decodes(path: Path) -> None:
    try:
        with PILImage.open(path) as image:
            image.verify()
        with PILImage.open(path) as image:
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(
            f"--data-dir: {path} is not a readable image ({reason}); remove or replace it"
        ) from None


def hub_reachable(timeout: float = HUB_TIMEOUT_S) -> bool:
    """True if a TCP connection to the Hub endpoint opens within ``timeout`` seconds."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def hub_offline() -> bool:
    """True when the user switched the Hub off (``HF_HUB_OFFLINE=1``)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _apply_offline_mode() -> None:
    """Make datasets and huggingface_hub honour HF_HUB_OFFLINE set after they were imported.

    Both read the variable once at import; without this they would retry the network for
    tens of seconds before giving up.
    """
    import datasets
    import huggingface_hub

    datasets.config.HF_HUB_OFFLINE = True
    huggingface_hub.constants.HF_HUB_OFFLINE = True


def load_hub_images(name: str, split: str, image_column: str | None) -> list:
    """Load a Hub dataset's images, failing fast with one line when the Hub is out of reach."""
    from datasets import Image, load_dataset

    if hub_offline():
        _apply_offline_mode()
    elif not hub_reachable():
        raise UsageError(
            f"--dataset-name {name}: cannot reach the Hugging Face Hub; check your connection, "
            "or set HF_HUB_OFFLINE=1 to use a cached copy, or use --data-dir"
        )
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(int(HUB_TIMEOUT_S)))
    try:
        dataset = load_dataset(name, split=split)
    except Exception as exc:  # datasets raises many types; the user needs the reason only
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise UsageError(
            f"--dataset-name {name} (split {split}) could not be loaded: {reason}; "
            "check the id and split, or use --data-dir"
        ) from None
    columns = [c for c, f in dataset.features.items() if isinstance(f, Image)]
    column = image_column or (columns[0] if columns else None)
    if column is None or column not in dataset.column_names:
        raise UsageError(
            f"--dataset-name {name} has no image column {image_column or ''}; "
            f"pass --image-column (columns: {', '.join(dataset.column_names)})"
        )
    return list(dataset[column])


def load_training_images(
    data_dir: str | None,
    dataset_name: str | None,
    dataset_split: str,
    image_column: str | None,
    resolution: int,
) -> list:
    """Validate and return the images of the chosen source (PIL images or file paths)."""
    if data_dir:
        return list(scan_image_folder(data_dir))
    if dataset_name:
        return load_hub_images(dataset_name, dataset_split, image_column)
    if not 8 <= resolution <= 64:
        raise UsageError(
            f"--resolution {resolution}: the bundled digits come in 8 to 64 pixels; "
            "pick one in that range or use --data-dir"
        )
    images, _ = digit_pil_images(resolution, split="train")
    return images


__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageListDataset",
    "fit_image",
    "hub_offline",
    "hub_reachable",
    "load_hub_images",
    "load_training_images",
    "scan_image_folder",
]
