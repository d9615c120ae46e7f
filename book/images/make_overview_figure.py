"""Draw the forward/reverse process figure of the Unit 1 overview (book/images/).

The overview is a static page, so its one figure is drawn here, with the course's own data and
diffusers' scheduler, and committed. Run from the repository root:
``python book/images/make_overview_figure.py``.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import torch
from diffusers import DDPMScheduler

from diffusion_course import seed_everything
from diffusion_course.data import digits_tensors, tensor_to_pil

OUT = Path(__file__).with_name("diffusion_process.png")


def main() -> None:
    generator = seed_everything(0)
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    steps = [0, 50, 150, 300, 500, 999]
    x0 = digits_tensors(size=16).images[3:4].repeat(len(steps), 1, 1, 1)
    noise = torch.randn(x0.shape, generator=generator)
    noisy = scheduler.add_noise(x0, noise, torch.tensor(steps))
    fig, axes = plt.subplots(1, len(steps), figsize=(9, 2.1))
    for ax, img, t in zip(axes, tensor_to_pil(noisy), steps, strict=True):
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"$x_{{{t}}}$" if t else "$x_0$", fontsize=12)
        ax.set_axis_off()
    fig.text(0.5, 0.04, "$q(x_t \\mid x_{t-1})$  →", ha="center", fontsize=11)
    fig.text(0.5, 0.90, "←  $p_\\theta(x_{t-1} \\mid x_t)$", ha="center", fontsize=11)
    fig.subplots_adjust(top=0.72, bottom=0.18, wspace=0.08)
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
