"""Serve MathJax 3 from the site itself, so formulas render offline and where CDNs are blocked.

MathJax comes from the PyPI package ``django-static-mathjax`` (pinned in requirements.txt): it
bundles the upstream MathJax 3 release files unchanged, with their licence, so it installs with
the rest of the build stack and needs no download script. This extension copies the parts a page
needs into ``_mathjax/`` at the root of the built site; ``mathjax_path`` in _config.yml points
there. It is deliberately not under ``html_static_path``: Jupyter Book adds every ``.js`` file
found there as a script on every page.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from sphinx.application import Sphinx

TARGET = "_mathjax"
# tex-chtml.js plus what it loads on demand: TeX extensions (autoload), fonts, menu, a11y.
PARTS = [
    "tex-chtml.js",
    "input/tex/extensions",
    "output/chtml/fonts/woff-v2",
    "ui",
    "a11y",
    "sre",
]


def mathjax_source() -> Path:
    """The installed MathJax release (``es5`` build) and its LICENSE's folder."""
    return Path(str(files("mathjax"))) / "static" / "mathjax"


def copy_mathjax(outdir: Path) -> None:
    """Copy MathJax's LICENSE and the needed ``es5`` files to ``outdir/_mathjax``."""
    source, target = mathjax_source(), outdir / TARGET
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "LICENSE", target / "LICENSE")
    for part in PARTS:
        src, dst = source / "es5" / part, target / part
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def on_build_finished(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        copy_mathjax(Path(app.outdir))


def setup(app: Sphinx) -> dict:
    if not mathjax_source().joinpath("es5", "tex-chtml.js").is_file():
        raise RuntimeError("MathJax is missing: pip install -r requirements.txt")
    app.connect("build-finished", on_build_finished)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
