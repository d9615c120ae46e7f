"""Training images from the bundled digits, a local folder or a Hub dataset, checked first.

Every source is validated completely *before* the training script creates its output folder:
a missing folder, a folder without images, a file that does not decode, or a Hub dataset that
cannot be reached each stop the run with one sentence naming the problem and the fix. Images of
mixed sizes and modes are accepted on purpose (learners collect them from anywhere): each one
is converted to the requested channels and resized/centre-cropped to the training resolution.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image as PILImage
from PIL import ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from diffusion_course.data import digit_pil_images, pil_to_tensor
from diffusion_course.errors import UsageError
from diffusion_course.hub import load_hub_images

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


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
    "load_training_images",
    "scan_image_folder",
]
