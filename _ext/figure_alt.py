"""Alt text for notebook figures, written in the page's Markdown instead of the cell's metadata.

English and Chinese twins share their code cells *and* cell metadata (jupyter-cache keys on
both), so the alt text, which is in the page's language, cannot live in the cell. A chapter puts
it in an HTML comment right after the cell that draws the figure::

    <!-- alt: Eight rows of noisy digits ... -->
    **Figure 3.** Caption text ...

The comment is invisible in Jupyter, Colab and the built page; this extension copies its text
onto every image the preceding cell output (the ``<img>`` of an animation included). A comment
that does not follow a code cell is a build warning, so a moved caption cannot go unnoticed.
"""

from __future__ import annotations

import html
import re

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util import logging

ALT_COMMENT = re.compile(r"^\s*<!--\s*alt:\s*(.*?)\s*-->\s*$", re.S)
logger = logging.getLogger(__name__)


def _previous_cell(node: nodes.Node) -> nodes.Element | None:
    """The code cell right before ``node`` among its siblings, if that is what precedes it."""
    parent = node.parent
    index = parent.index(node)
    if index == 0:
        return None
    previous = parent[index - 1]
    if isinstance(previous, nodes.Element) and "cell" in previous.get("classes", []):
        return previous
    return None


def _apply_alt(cell: nodes.Element, alt: str) -> int:
    """Set ``alt`` on the cell's output images; return how many were found."""
    count = 0
    for image in cell.findall(nodes.image):
        image["alt"] = alt
        count += 1
    for raw in cell.findall(nodes.raw):
        if "<img " in raw.astext():
            text = raw.astext().replace("<img ", f'<img alt="{html.escape(alt)}" ', 1)
            raw.children[0] = nodes.Text(text)
            count += 1
    return count


def add_alt_text(app: Sphinx, doctree: nodes.document) -> None:
    for raw in list(doctree.findall(nodes.raw)):
        match = ALT_COMMENT.match(raw.astext())
        if not match:
            continue
        cell = _previous_cell(raw)
        if cell is None or _apply_alt(cell, " ".join(match.group(1).split())) == 0:
            logger.warning(
                "alt comment does not follow a cell with a figure; put it right after one",
                location=raw,
            )


def setup(app: Sphinx) -> dict:
    app.connect("doctree-read", add_alt_text)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
