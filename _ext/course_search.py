"""Chinese search that finds course terms: a jieba dictionary from the glossary, and a query
splitter in the browser that cuts a query the way the index was cut.

Sphinx indexes Chinese pages with jieba, which does not know course terms such as 时间步 or 去噪
and cuts them into single characters, which the index drops. The glossary's terms are added to
jieba's dictionary before the index is built. In the browser, Sphinx looks a query up as one
whole term, so ``扩散模型的训练`` found nothing; the splitter below cuts Chinese text into the
longest terms the index has (扩散模型 + 训练).
"""

from __future__ import annotations

import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.search.zh import SearchChinese

HERE = Path(__file__).parent
HAN = r"[\u4e00-\u9fff]"
# Parenthesised notes in the glossary's 中文 column that are not terms.
NOT_TERMS = {"不译"}


def glossary_terms(glossary: str) -> list[str]:
    """The Chinese terms of the glossary's table: the column whose header is ``中文``.

    A cell may hold variants ("采样 / 采样器") and a note in full-width brackets; a note that is
    itself Chinese ("EMA（指数移动平均）") is a term too, one with code or Latin text is not.
    A term that starts or ends with another term also yields the rest (噪声调度器 → 调度器),
    so the parts of compound terms can be searched on their own.
    """
    column, terms = None, []
    for line in glossary.splitlines():
        if not line.lstrip().startswith("|"):
            column = None  # a table ends at the first line that is not a table row
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if column is None:
            column = cells.index("中文") if "中文" in cells else None
            continue
        if len(cells) <= column:
            continue
        cell = re.sub(r"（[^）]*[A-Za-z`][^）]*）", "", cells[column])
        terms += [t for t in re.findall(f"{HAN}{{2,}}", cell) if t not in NOT_TERMS]
    terms = list(dict.fromkeys(terms))
    parts = [
        rest
        for term in terms
        for other in terms
        if other != term
        for rest in (term.removeprefix(other), term.removesuffix(other))
        if rest != term and re.fullmatch(f"{HAN}{{2,}}", rest)
    ]
    return list(dict.fromkeys(terms + parts))


def write_user_dictionary(glossary: Path, target: Path) -> list[str]:
    """Write a jieba user dictionary (one word a line) from the glossary; return its words."""
    words = glossary_terms(glossary.read_text(encoding="utf-8"))
    if not words:
        raise RuntimeError(f"{glossary}: found no table with a 中文 column to build search terms")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    return words


class CourseChinese(SearchChinese):
    """Sphinx's Chinese search, with a browser-side splitter that matches the index's terms."""

    js_splitter_code = (HERE / "zh_search_splitter.js").read_text(encoding="utf-8")


def on_config_inited(app: Sphinx, config: Config) -> None:
    if config.html_search_language != "zh":
        return
    target = Path(app.outdir).parent / "jieba_userdict.txt"
    write_user_dictionary(Path(app.srcdir) / "book" / "zh" / "glossary.md", target)
    config.html_search_options = {**(config.html_search_options or {}), "dict": str(target)}


def setup(app: Sphinx) -> dict:
    app.add_search_language(CourseChinese)
    app.connect("config-inited", on_config_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
