"""Named sizes of the course's ``UNet2DModel``, so a learner picks ``--model tiny`` instead of
six architecture arguments: ``tiny`` trains in minutes on a laptop CPU, ``small`` adds
self-attention at the lowest resolution, ``base`` is the original course's size for 32 px and
larger images on a GPU.
"""

from __future__ import annotations

from typing import Any

from diffusers import UNet2DModel

PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "block_out_channels": (32, 64, 64),
        "layers_per_block": 1,
        "down_block_types": ("DownBlock2D", "DownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "UpBlock2D", "UpBlock2D"),
        "norm_num_groups": 8,
    },
    "small": {
        "block_out_channels": (32, 64, 128),
        "layers_per_block": 1,
        "down_block_types": ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        "up_block_types": ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        "norm_num_groups": 8,
    },
    "base": {
        "block_out_channels": (64, 128, 256, 256),
        "layers_per_block": 2,
        "down_block_types": ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        "norm_num_groups": 32,
    },
}


def min_resolution(preset: str) -> int:
    """The smallest image side the preset can halve down to a 2x2 feature map."""
    return 2 ** len(PRESETS[preset]["block_out_channels"])


def unet_kwargs(preset: str, resolution: int, channels: int) -> dict[str, Any]:
    """The full ``UNet2DModel`` keyword arguments for a preset, image size and channel count."""
    return PRESETS[preset] | dict(
        sample_size=resolution, in_channels=channels, out_channels=channels
    )


def build_unet(preset: str, resolution: int, channels: int) -> UNet2DModel:
    return UNet2DModel(**unet_kwargs(preset, resolution, channels))
