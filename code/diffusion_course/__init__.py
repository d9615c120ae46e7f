"""Shared code for the Diffusion Models Course, Unit 1.

Every chapter imports from this package, so what the pages teach and what the tests check is
one piece of code.
"""

import os
import warnings

# On a CPU shared with other work, OpenMP threads that spin while waiting slow torch down
# several-fold; letting idle threads sleep costs little on an idle machine. It only takes
# effect when set before torch is first imported, which is why chapters import us first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from tqdm import TqdmWarning  # noqa: E402

from diffusion_course.device import get_device, seed_everything  # noqa: E402

# Without ipywidgets, tqdm.auto (used by diffusers, datasets and our loops) warns once and falls
# back to text progress bars. Text bars are what a static page can show, so the warning is noise.
warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)

__all__ = ["get_device", "seed_everything"]
__version__ = "0.1.0"
