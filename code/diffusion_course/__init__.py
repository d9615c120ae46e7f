"""Shared code for the Diffusion Models Course, Unit 1.

Every chapter imports from this package, so what the pages teach and what the tests check is
one piece of code.
"""

import warnings

from tqdm import TqdmWarning

from diffusion_course.device import get_device, seed_everything

# Without ipywidgets, tqdm.auto (used by diffusers, datasets and our loops) warns once and falls
# back to text progress bars. Text bars are what a static page can show, so the warning is noise.
warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)

__all__ = ["get_device", "seed_everything"]
__version__ = "0.1.0"
