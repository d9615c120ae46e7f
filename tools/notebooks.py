"""Generate the launchable ``.ipynb`` beside each executable MyST page.

Colab and Binder open ``.ipynb`` files, while the book is written in MyST Markdown. This module
turns every executable ``book/**.md`` into a notebook with Colab metadata (asking for a GPU) and a
first cell that installs the course package only on Colab. English notebooks are executed so
that nbval can compare their outputs; the Chinese twin has identical code cells, so it receives
the English outputs instead of running a second time.

Book tooling, not part of the course package: ``python tools/notebooks.py`` regenerates all
notebooks, ``python tools/notebooks.py book/en/unit1/NAME.md`` one chapter in both languages,
``--check`` lists notebooks that are out of date with their pages (the tests do the same);
``--prose-only`` rewrites them after a change to the prose alone, keeping the outputs (it
refuses when a code cell changed, since the outputs would no longer be that code's).
It needs jupytext and nbclient, which ``requirements.txt`` installs.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = "book"
LANGS = ("en", "zh")

INSTALL_TEXT = {
    "en": (
        "**Running on Colab?** The next cell installs the course package there. "
        "Elsewhere it does nothing: install with `pip install -r requirements.txt` "
        "from the repository instead."
    ),
    "zh": (
        "**在 Colab 上运行？** 下一个单元会在 Colab 中安装本课程的代码包；"
        "在其他环境中它什么也不做，请在仓库根目录运行 `pip install -r requirements.txt` 安装。"
    ),
}

INSTALL_CODE = """import sys

if "google.colab" in sys.modules:
    %pip install -q "diffusion-course @ git+{url}@{branch}#subdirectory=code"
"""

COLAB_METADATA = {
    "accelerator": "GPU",
    "colab": {"provenance": [], "gpuType": "T4", "toc_visible": True},
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}


def repository(root: Path) -> tuple[str, str]:
    """Read the repository URL and branch from ``_config.yml``, their single home."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repo = config.get("repository") or {}
    if not repo.get("url"):
        raise SystemExit("error: _config.yml has no repository.url; set it to the GitHub URL")
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def is_executable_page(path: Path) -> bool:
    """A page is executable when its front matter declares a Jupyter kernel."""
    text = path.read_text(encoding="utf-8")
    return text.startswith("---") and "kernelspec:" in text.split("---", 2)[1]


def executable_pages(root: Path, lang: str | None = None) -> list[Path]:
    """All executable MyST pages under book/, optionally of one language, sorted."""
    langs = [lang] if lang else list(LANGS)
    pages = []
    for code in langs:
        pages += [p for p in (root / BOOK_DIR / code).rglob("*.md") if is_executable_page(p)]
    return sorted(pages)


def language_of(page: Path, root: Path) -> str:
    """The language code of a page, from its folder under book/."""
    return page.relative_to(root / BOOK_DIR).parts[0]


def twin_of(page: Path, root: Path) -> Path:
    """The same page in the other language."""
    rel = page.relative_to(root / BOOK_DIR)
    other = "zh" if rel.parts[0] == "en" else "en"
    return root / BOOK_DIR / other / Path(*rel.parts[1:])


def build_notebook(page: Path, root: Path) -> nbformat.NotebookNode:
    """Convert a MyST page into a Colab-ready notebook without outputs."""
    url, branch = repository(root)
    lang = language_of(page, root)
    nb = jupytext.read(page, fmt="md:myst")
    install = [
        nbformat.v4.new_markdown_cell(INSTALL_TEXT[lang]),
        nbformat.v4.new_code_cell(INSTALL_CODE.format(url=url, branch=branch).strip()),
    ]
    nb.cells = install + nb.cells
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k == "tags"}
    nb.metadata = copy.deepcopy(COLAB_METADATA)
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 1200) -> None:
    """Execute a notebook in place, in the page's folder, as the book build does.

    Timing records and kernel details are left out, so that regenerating an unchanged page
    gives an unchanged file.
    """
    from nbclient import NotebookClient

    metadata = copy.deepcopy(nb.metadata)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    nb.metadata = metadata


def copy_outputs(
    source: nbformat.NotebookNode,
    target: nbformat.NotebookNode,
    mismatch: str = "the English and Chinese pages have different code cells",
) -> None:
    """Give the target the source's outputs; their code cells must be identical."""
    src_code = [c for c in source.cells if c.cell_type == "code"]
    dst_code = [c for c in target.cells if c.cell_type == "code"]
    same = [(c.source, c.metadata) for c in src_code[1:]] == [
        (c.source, c.metadata) for c in dst_code[1:]
    ]
    if not same:
        raise ValueError(mismatch)
    for src, dst in zip(src_code, dst_code, strict=True):
        dst["outputs"] = copy.deepcopy(src.get("outputs", []))
        dst["execution_count"] = src.get("execution_count")


def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy without outputs or execution counts, for comparing sources only."""
    clean = copy.deepcopy(nb)
    for cell in clean.cells:
        if cell.cell_type == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return clean


def notebook_path(page: Path) -> Path:
    return page.with_suffix(".ipynb")


def is_stale(page: Path, root: Path) -> bool:
    """True when the notebook beside ``page`` is missing or differs from a fresh conversion."""
    path = notebook_path(page)
    if not path.exists():
        return True
    on_disk = nbformat.read(path, as_version=4)
    return strip_outputs(on_disk) != strip_outputs(build_notebook(page, root))


def write_atomically(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write a notebook via a temporary file, so an interrupted run leaves the old one intact."""
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(path)


def regenerate(root: Path, pages: list[Path], run: bool = True, prose_only: bool = False) -> None:
    """Regenerate the English notebooks (executed, or with the outputs they have when only the
    prose changed) and their Chinese twins (outputs copied)."""
    english = sorted({p if language_of(p, root) == "en" else twin_of(p, root) for p in pages})
    for page in english:
        nb = build_notebook(page, root)
        if prose_only:
            if not notebook_path(page).exists():
                raise ValueError(
                    f"{page.relative_to(root)} has no notebook yet; run without --prose-only"
                )
            old = nbformat.read(notebook_path(page), as_version=4)
            mismatch = f"{page.relative_to(root)}: a code cell changed; run without --prose-only"
            copy_outputs(old, nb, mismatch)
        elif run:
            print(f"executing {page.relative_to(root)}", flush=True)
            execute(nb, page.parent)
        zh_page = twin_of(page, root)
        zh_nb = build_notebook(zh_page, root)
        copy_outputs(nb, zh_nb)
        write_atomically(nb, notebook_path(page))
        write_atomically(zh_nb, notebook_path(zh_page))
        print(f"wrote {notebook_path(page).relative_to(root)} and its Chinese twin", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", type=Path, help="pages to regenerate (default: all)")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    parser.add_argument("--check", action="store_true", help="only list out-of-date notebooks")
    parser.add_argument("--no-execute", action="store_true", help="write notebooks without outputs")
    parser.add_argument(
        "--prose-only", action="store_true", help="keep the outputs: only the prose changed"
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if not (root / "_config.yml").exists():
        print(
            f"error: {root} has no _config.yml; pass the repository root with --root",
            file=sys.stderr,
        )
        return 2
    pages = [p.resolve() for p in args.pages] or executable_pages(root)
    if args.check:
        stale = [p for p in pages if is_stale(p, root)]
        for page in stale:
            print(f"out of date: {notebook_path(page).relative_to(root)}")
        return 1 if stale else 0
    try:
        regenerate(root, pages, run=not args.no_execute, prose_only=args.prose_only)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
