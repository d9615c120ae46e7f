"""The landing page runs code (to draw its figures) but is not a chapter: no launch buttons.

sphinx-book-theme adds Colab/Binder buttons to every page with a kernel; the landing page has no
launchable notebook in the repository, so its buttons would lead nowhere.
"""

from __future__ import annotations

from sphinx.application import Sphinx


def drop_launch_buttons(app: Sphinx, pagename: str, templatename, context: dict, doctree) -> None:
    if pagename == app.config.root_doc and "header_buttons" in context:
        buttons = context["header_buttons"]
        context["header_buttons"] = [b for b in buttons if b.get("label") != "launch-buttons"]


def setup(app: Sphinx) -> dict:
    # After sphinx-book-theme has added its buttons (priority 501).
    app.connect("html-page-context", drop_launch_buttons, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
