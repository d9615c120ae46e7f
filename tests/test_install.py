"""A plain ``pip install ./code`` gives working console scripts: the package declares what
it imports, and book tooling (jupytext, nbclient) is not among it.

Downloading torch and friends into a fresh virtual environment takes minutes and gigabytes,
so the fresh environment gets, instead, exactly the distributions the package declares and
what they require in turn, linked from this environment. Anything the package imports without
declaring it is then missing, as after a real install from the index.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from _train_helpers import REPO
from packaging.requirements import Requirement

PROJECT = tomllib.loads((REPO / "code" / "pyproject.toml").read_text())["project"]


def declared_closure(requirements: list[str]) -> dict[str, metadata.Distribution]:
    """The installed distributions a plain install needs: dependencies, without extras."""
    found: dict[str, metadata.Distribution] = {}
    todo = [Requirement(text) for text in requirements]
    while todo:
        req = todo.pop()
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        dist = metadata.distribution(req.name)
        name = dist.metadata["Name"].lower()
        if name not in found:
            found[name] = dist
            todo += [Requirement(text) for text in dist.requires or []]
    return found


def link_distributions(dists: list[metadata.Distribution], folder: Path) -> None:
    """Symlink each distribution's top-level modules and its metadata folder into ``folder``."""
    folder.mkdir()
    for dist in dists:
        tops = {Path(f).parts[0] for f in dist.files or [] if Path(f).parts[0] != ".."}
        for top in tops:
            source = Path(dist.locate_file(top))
            if source.exists() and not (folder / top).exists():
                (folder / top).symlink_to(source)


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory) -> Path:
    """A fresh virtualenv (no system site-packages) with ``pip install ./code`` done in it."""
    root = tmp_path_factory.mktemp("install")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    closure = declared_closure(PROJECT["dependencies"] + ["setuptools>=68"])
    link_distributions(list(closure.values()), root / "deps")
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "declared-deps.pth").write_text(str(root / "deps") + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"]
    options = ["--quiet", "--no-index", "--no-build-isolation", "--no-cache-dir"]
    source = shutil.copytree(  # a copy: the build leaves build/ and *.egg-info beside it
        REPO / "code", root / "code", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    result = subprocess.run(
        [*pip, *options, str(source)], capture_output=True, text=True, env=clean_env()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return venv


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return env | {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def test_book_tools_are_not_dependencies():
    names = set(declared_closure(PROJECT["dependencies"]))
    assert not names & {"jupytext", "nbclient", "nbformat", "jupyter-book"}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(PROJECT["scripts"]))
def test_console_script_help_after_plain_install(plain_install, script, tmp_path):
    result = subprocess.run(
        [plain_install / "bin" / script, "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("usage:") and "--help" in result.stdout
