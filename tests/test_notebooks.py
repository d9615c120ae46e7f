"""The launchable .ipynb files: present, up to date, Colab-ready, executed."""

import shutil
from pathlib import Path

import nbformat
import notebooks
import pytest
from notebooks import build_notebook, executable_pages, is_stale, notebook_path

ROOT = Path(__file__).resolve().parents[1]
PAGES = executable_pages(ROOT)


def test_there_are_executable_pages_in_both_languages():
    langs = {notebooks.language_of(p, ROOT) for p in PAGES}
    assert langs == {"en", "zh"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_paired_notebook_is_up_to_date(page):
    assert not is_stale(page, ROOT), (
        f"{notebook_path(page).relative_to(ROOT)} is out of date; "
        f"run: python tools/notebooks.py {page.relative_to(ROOT)}"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_paired_notebook_is_colab_ready_and_executed(page):
    nb = nbformat.read(notebook_path(page), as_version=4)
    assert nb.metadata["accelerator"] == "GPU"
    assert nb.metadata["colab"]["gpuType"]
    install = nb.cells[1]
    assert install.cell_type == "code"
    assert 'if "google.colab" in sys.modules:' in install.source
    repo_url, branch = notebooks.repository(ROOT)
    assert f"git+{repo_url}@{branch}#subdirectory=code" in install.source
    code = [c for c in nb.cells if c.cell_type == "code"][1:]
    assert code and all(
        c.execution_count for c in code if "skip-execution" not in c.metadata.get("tags", [])
    ), "the notebook was not executed"


def test_stale_notebook_is_detected_and_regenerated(tmp_path):
    root = tmp_path / "repo"
    (root / "book" / "en" / "unit1").mkdir(parents=True)
    (root / "book" / "zh" / "unit1").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    header = (ROOT / "book/en/unit1/00_first_steps.md").read_text().split("---", 2)[1]
    for lang, prose in [("en", "Hello"), ("zh", "你好")]:
        (root / f"book/{lang}/unit1/p.md").write_text(
            f"---{header}---\n\n# {prose}\n\n```{{code-cell}} ipython3\nprint(6 * 7)\n```\n"
        )
    page = root / "book/en/unit1/p.md"
    assert is_stale(page, root)
    assert notebooks.main(["--root", str(root), "--check"]) == 1
    assert notebooks.main(["--root", str(root)]) == 0
    assert not is_stale(page, root) and notebooks.main(["--root", str(root), "--check"]) == 0
    zh = nbformat.read(root / "book/zh/unit1/p.ipynb", as_version=4)
    assert zh.cells[-1].outputs[0]["text"] == "42\n"
    assert "在 Colab 上运行" in zh.cells[0].source
    # Editing the page makes the notebook stale again.
    page.write_text(page.read_text().replace("6 * 7", "6 * 9"))
    assert is_stale(page, root)


def test_prose_only_keeps_outputs_and_refuses_changed_code(tmp_path, capsys):
    root = tmp_path / "repo"
    for lang in ("en", "zh"):
        (root / "book" / lang / "unit1").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", root / "_config.yml")
    header = (ROOT / "book/en/unit1/00_first_steps.md").read_text().split("---", 2)[1]
    pages = {lang: root / f"book/{lang}/unit1/p.md" for lang in ("en", "zh")}
    for lang, prose in [("en", "Hello"), ("zh", "你好")]:
        pages[lang].write_text(
            f"---{header}---\n\n# {prose}\n\n```{{code-cell}} ipython3\nprint(6 * 7)\n```\n"
        )
    assert notebooks.main(["--root", str(root), "--prose-only"]) == 2  # nothing to keep yet
    assert "has no notebook yet; run without --prose-only" in capsys.readouterr().err
    assert not (root / "book/en/unit1/p.ipynb").exists()
    assert notebooks.main(["--root", str(root)]) == 0
    pages["zh"].write_text(pages["zh"].read_text().replace("你好", "您好"))
    assert is_stale(pages["zh"], root)
    assert notebooks.main(["--root", str(root), "--prose-only"]) == 0
    assert not is_stale(pages["zh"], root)
    zh = nbformat.read(root / "book/zh/unit1/p.ipynb", as_version=4)
    assert zh.cells[-1].outputs[0]["text"] == "42\n" and "您好" in zh.cells[2].source
    for page in pages.values():
        page.write_text(page.read_text().replace("6 * 7", "6 * 9"))
    before = (root / "book/en/unit1/p.ipynb").read_bytes()
    assert notebooks.main(["--root", str(root), "--prose-only"]) == 2
    assert "a code cell changed; run without --prose-only" in capsys.readouterr().err
    assert (root / "book/en/unit1/p.ipynb").read_bytes() == before


def test_install_cell_comes_from_the_configured_repository(tmp_path):
    root = tmp_path / "repo"
    (root / "book" / "en").mkdir(parents=True)
    config = (ROOT / "_config.yml").read_text()
    url, _ = notebooks.repository(ROOT)
    (root / "_config.yml").write_text(config.replace(url, "https://github.com/someone/fork"))
    page = root / "book/en/x.md"
    page.write_text((ROOT / "book/en/unit1/00_first_steps.md").read_text())
    nb = build_notebook(page, root)
    assert "git+https://github.com/someone/fork@main#subdirectory=code" in nb.cells[1].source


def test_missing_config_is_a_clear_error(tmp_path, capsys):
    assert notebooks.main(["--root", str(tmp_path), "--check"]) == 2
    assert "has no _config.yml" in capsys.readouterr().err


@pytest.mark.parametrize("page", executable_pages(ROOT, "en"), ids=lambda p: p.name)
def test_executed_notebook_shows_no_warnings_or_errors(page):
    nb = nbformat.read(notebook_path(page), as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"{page.name}: a cell raised"
            if out.get("name") == "stderr":
                assert "Warning" not in out["text"], f"{page.name}: {out['text'][:300]}"
