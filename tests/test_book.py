"""Checks on the book's sources: twins, identical code, the glossary, the table of contents,
figure captions, and commands shown on the pages."""

import re
import shlex
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from notebooks import executable_pages, twin_of

from diffusion_course.recipes import CHAPTER_RECIPE

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def pages(lang: str) -> list[Path]:
    return sorted((BOOK / lang).rglob("*.md"))


def toc_files(name: str) -> list[str]:
    """Every file named in a table of contents (_toc.yml or _toc.zh.yml), in order."""
    toc = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    found = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                found.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return found


def code_cells(page: Path) -> list[tuple[str, dict]]:
    """Source and metadata of each code cell: jupyter-cache keys on both."""
    nb = jupytext.read(page, fmt="md:myst")
    return [(cell.source, cell.metadata) for cell in nb.cells if cell.cell_type == "code"]


def chinese_prose(page: Path) -> str:
    """The page's text without code blocks, inline code and link targets."""
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    return re.sub(r"\]\([^)]*\)", "]", text)


def glossary_avoid_list() -> list[tuple[str, str]]:
    """(forbidden variant, preferred term) pairs from the Chinese glossary's table."""
    rows = []
    for line in (BOOK / "zh" / "glossary.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("English", ":--"):
            for variant in re.split(r"[、,，]", cells[3]):
                if variant.strip():
                    rows.append((variant.strip(), cells[1]))
    return rows


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_page_has_its_twin(lang):
    missing = [str(p.relative_to(ROOT)) for p in pages(lang) if not twin_of(p, ROOT).exists()]
    assert not missing, f"pages without a translation: {missing}"


@pytest.mark.parametrize("page", executable_pages(ROOT, "en"), ids=lambda p: p.name)
def test_twins_have_identical_code_cells(page):
    english, chinese = code_cells(page), code_cells(twin_of(page, ROOT))
    assert english, f"{page.name} has no code cells"
    assert english == chinese, f"{page.name}: code cells or their metadata differ between en and zh"


def test_tables_of_contents_list_both_languages_in_parallel():
    # One build per language: _toc.yml (landing page + English), _toc.zh.yml (Chinese).
    english_toc, chinese_toc = toc_files("_toc.yml"), toc_files("_toc.zh.yml")
    english = [f[len("book/en/") :] for f in english_toc if f.startswith("book/en/")]
    chinese = [f[len("book/zh/") :] for f in chinese_toc if f.startswith("book/zh/")]
    assert english and english == chinese
    assert len(chinese) == len(chinese_toc), "_toc.zh.yml lists a page outside book/zh/"
    files = english_toc + chinese_toc
    for name in files:
        assert (ROOT / f"{name}.md").exists(), f"a table of contents names a missing page: {name}"
    on_disk = {str(p.relative_to(ROOT).with_suffix("")) for p in BOOK.rglob("*.md")}
    assert on_disk == set(files), f"pages in no table of contents: {sorted(on_disk - set(files))}"


def test_glossary_is_parsed():
    pairs = glossary_avoid_list()
    assert ("噪音", "噪声") in pairs and len(pairs) > 20


@pytest.mark.parametrize("page", pages("zh"), ids=lambda p: p.name)
def test_chinese_pages_follow_the_glossary(page):
    prose = chinese_prose(page)
    if page.name == "glossary.md":
        return  # the glossary names the variants it forbids
    used = [f"{bad} (use {good})" for bad, good in glossary_avoid_list() if bad in prose]
    assert not used, f"{page.name} uses terms the glossary rules out: {used}"


@pytest.mark.parametrize("page", pages("zh"), ids=lambda p: p.name)
def test_chinese_pages_are_written_in_chinese(page):
    prose = chinese_prose(page)
    han = len(re.findall(r"[\u4e00-\u9fff]", prose))
    latin_words = len(re.findall(r"[A-Za-z]{3,}", prose))
    assert han > 3 * latin_words, f"{page.name} reads as mostly untranslated"


FIGURE_LABEL = {"en": r"\*\*Figure (\d+)\.\*\*", "zh": r"\*\*图 (\d+)\*\*"}


def shows_figure(cell) -> bool:
    """A code cell whose stored outputs draw something: an image or an HTML animation."""
    data = [out.get("data", {}) for out in cell.get("outputs", [])]
    return any("image/png" in d or "<img" in d.get("text/html", "") for d in data)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("page", executable_pages(ROOT, "en"), ids=lambda p: p.name)
def test_every_figure_has_alt_text_and_a_numbered_caption(page, lang):
    notebook = (page if lang == "en" else twin_of(page, ROOT)).with_suffix(".ipynb")
    cells = nbformat.read(notebook, as_version=4).cells
    numbers = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or not shows_figure(cell):
            continue
        after = cells[i + 1].source if i + 1 < len(cells) else ""
        where = f"{notebook.name}: cell {i} draws a figure"
        assert re.match(r"<!-- alt: \S", after), f"{where} without alt text"
        label = re.search(FIGURE_LABEL[lang], after)
        assert label, f"{where} without a numbered caption"
        numbers.append(int(label.group(1)))
    assert numbers and numbers == list(range(1, len(numbers) + 1)), f"{notebook.name}: {numbers}"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_shown_training_command_is_the_chapter_recipe(lang):
    notebook = BOOK / lang / "unit1" / "01_introduction_to_diffusers.ipynb"
    cells = nbformat.read(notebook, as_version=4).cells
    shown = [
        out["text"]
        for cell in cells
        if cell.cell_type == "code" and "train_args(" in cell.source
        for out in cell.get("outputs", [])
        if out.get("name") == "stdout"
    ]
    assert len(shown) == 1, "expected one cell printing the training command"
    args = shlex.split(shown[0].replace("\\\n", " "))
    steps = int(args[args.index("--max-train-steps") + 1])
    expected = CHAPTER_RECIPE.with_steps(steps).train_args("ddpm-digits")
    assert args == ["diffusion-course-train", *expected]


INTERVAL = re.compile(r"[−-]?\d+(?:\.\d+)?\s\[[−-]?\d+(?:\.\d+)?,\s[−-]?\d+(?:\.\d+)?\]")


def _dashes(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("−", "-"))


@pytest.mark.parametrize(
    "page", pages("en") + pages("zh"), ids=lambda p: p.parent.name + "/" + p.name
)
def test_quoted_intervals_come_from_the_page_or_the_benchmark(page):
    """A "value [low, high]" in the prose must be printed by the page itself or by the benchmark
    report, so a rerun of either cannot leave a stale figure in the text."""
    prose = re.sub(r"```\{code-cell\}.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    sources = [
        (ROOT / "benchmarks" / name).read_text(encoding="utf-8")
        for name in ("results.md", "results.zh.md")
    ]
    notebook = page.with_suffix(".ipynb")
    if notebook.exists():
        sources.append(notebook.read_text(encoding="utf-8").replace("\\n", " "))
    known = _dashes(" ".join(sources))
    missing = [q for q in INTERVAL.findall(prose) if _dashes(q) not in known]
    assert not missing, missing
