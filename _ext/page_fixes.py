"""Small fixes to what the theme writes into every page.

- The landing page runs code (to draw its figures) but is not a chapter: sphinx-book-theme adds
  Colab/Binder buttons to every page with a kernel, and the landing page has no launchable
  notebook in the repository, so its buttons would lead nowhere.
- Inline scripts added by extensions (sphinx-thebe's configuration, sphinx-togglebutton's) end
  up twice in every page; thebe's second copy declares ``const THEBE_JS_URL`` again, which is a
  console error in every browser.
- sphinx-book-theme's Chinese catalog lacks the launch buttons' labels; they are added here.
- matplotlib's ``to_jshtml`` animations link Font Awesome 4 from a CDN for their play buttons.
  The theme already serves Font Awesome itself (its ``fa`` classes draw the same icons), so the
  link is dropped from the page: the site loads nothing from a third-party host. The launchable
  notebooks keep it; Jupyter and Colab are online anyway.
"""

from __future__ import annotations

import gettext

from docutils import nodes
from sphinx import locale
from sphinx.application import Sphinx

# Interface strings missing from sphinx-book-theme's zh_CN catalog ("Launch on" + " Colab").
BOOK_THEME_ZH = {"Launch interactive content": "启动交互式环境", "Launch on": "打开于"}


class Messages(gettext.NullTranslations):
    """A fallback catalog from a dict."""

    def __init__(self, messages: dict[str, str]):
        super().__init__()
        self.messages = messages

    def gettext(self, message: str) -> str:
        return self.messages.get(message, message)


def complete_book_theme_catalog(app: Sphinx) -> None:
    translator = locale.translators.get(("general", "booktheme"))
    if (app.config.language or "").startswith("zh") and translator is not None:
        translator.add_fallback(Messages(BOOK_THEME_ZH))


def drop_launch_buttons(app: Sphinx, pagename: str, templatename, context: dict, doctree) -> None:
    if pagename == app.config.root_doc and "header_buttons" in context:
        buttons = context["header_buttons"]
        context["header_buttons"] = [b for b in buttons if b.get("label") != "launch-buttons"]


def drop_repeated_scripts(app: Sphinx, pagename: str, templatename, context: dict, doctree):
    """Keep the first of scripts with the same file and the same inline body.

    Sphinx lists an inline script added before the builder starts with the file name "" and
    one added after with None, so the same script is not recognised as already there.
    """
    seen, scripts = set(), []
    for script in context.get("script_files", []):
        key = (script.filename or "", script.attributes.get("body"))
        if key not in seen:
            seen.add(key)
            scripts.append(script)
    context["script_files"] = scripts


JSHTML_CDN_LINK = (
    '<link rel="stylesheet"\n'
    'href="https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css">'
)


def drop_animation_cdn_link(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    for raw in doctree.findall(nodes.raw):
        if JSHTML_CDN_LINK in raw.astext():
            html = raw.astext().replace(JSHTML_CDN_LINK, "")
            raw.replace_self(nodes.raw("", html, format="html"))


def setup(app: Sphinx) -> dict:
    app.connect("doctree-resolved", drop_animation_cdn_link)
    app.connect("builder-inited", complete_book_theme_catalog)
    # After sphinx-book-theme has added its buttons (priority 501).
    app.connect("html-page-context", drop_launch_buttons, priority=600)
    app.connect("html-page-context", drop_repeated_scripts, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
