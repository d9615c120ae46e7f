"""Training images from the bundled digits, a local folder or a Hub dataset, checked before the
output folder is created. Mixed sizes and modes are accepted on purpose (learners collect images
anywhere): each is converted to the channels and resized and centre-cropped to the resolution.
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
from diffusion_course.options import TrainConfig

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class ImageListDataset(Dataset):
    """Images (PIL or file paths) turned into ``{"pixel_values": (C, H, W) in [-1, 1]}``."""

    def __init__(self, images: list, resolution: int, channels: int, random_flip: bool = False):
        self.images, self.resolution = images, resolution
        self.channels, self.random_flip = channels, random_flip

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        image = self.images[index]
        if isinstance(image, (str, Path)):
            with PILImage.open(image) as opened:
                image = opened.copy()  # loaded, so the file can close
        tensor = pil_to_tensor(fit_image(image, self.resolution), self.channels)
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


def scan_image_folder(data_dir: str | Path) -> list[Path]:
    """Every image file under ``data_dir`` (other and hidden files are skipped); UsageError names
    one that does not decode, since training on fewer images would hide a broken download."""
    folder = Path(data_dir)
    files = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )
    files = [p for p in files if not any(part[0] == "." for part in p.relative_to(folder).parts)]
    if not files:
        found = "has no images (.png, .jpg, ...)" if folder.is_dir() else "is a file"
        problem = found if folder.exists() else "does not exist"
        raise UsageError(f"--data-dir {folder} {problem}; point it at a folder of images")
    for path in files:
        try:
            with PILImage.open(path) as image:
                image.verify()  # checks the file's structure; load() then decodes the pixels
            with PILImage.open(path) as image:
                image.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise UsageError(
                f"--data-dir: {path} is not a readable image ({reason}); remove or replace it"
            ) from None
    return files


def load_training_images(config: TrainConfig) -> list:
    """Validate and return the images of the chosen source (PIL images or file paths)."""
    if config.data_dir:
        return scan_image_folder(config.data_dir)
    if config.dataset_name:
        return load_hub_images(config.dataset_name, config.dataset_split, config.image_column)
    if not 8 <= config.resolution <= 64:
        raise UsageError(
            f"--resolution {config.resolution}: the bundled digits come in 8 to 64 pixels; "
            "pick one in that range or use --data-dir"
        )
    return digit_pil_images(config.resolution, split="train")[0]
