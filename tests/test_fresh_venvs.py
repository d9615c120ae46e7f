"""The course package in fresh virtual environments, installed as its users install it.

- Colab: the launchable notebooks' install cell (``%pip install "diffusion-course @ git+URL@BRANCH
  #subdirectory=code"``), run unchanged, with git sending the repository URL to a clone of this
  checkout's HEAD (committed files only: commit before running it), then nbval over the
  notebooks of that commit. This replaces running nbval in the development environment: it
  checks the same outputs with what the package's ranges install today, not requirements.txt.
- Lower bounds: every ``>=`` bound of ``code/pyproject.toml`` installed exactly (a constraints
  file), then the package's unit tests.

Both install torch 2.13.0 first, as Colab ships torch (the wheel is on this machine's disk), and
download the rest from the package index, so they need it and take minutes: they are marked
``venv`` (``pytest -m "not venv"`` leaves them out). Nothing they run may reach the Hub.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import notebooks
import pytest
import tomllib
from _train_helpers import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.venv

PROJECT = tomllib.loads((REPO / "code" / "pyproject.toml").read_text())["project"]
TORCH = "torch==2.13.0"  # what Colab would already have; a local wheel here
# Tests of the book's tooling and of the site: they need requirements.txt, not just the package.
BOOK_TESTS = {
    "test_book.py",
    "test_browser.py",
    "test_fresh_venvs.py",
    "test_gpu_branch.py",
    "test_install.py",
    "test_notebooks.py",
    "test_progress_bars.py",
    "test_site_extensions.py",
}


def pinned(*names: str) -> list[str]:
    """The requirements.txt pins of these distributions (test tools, not the package)."""
    lines = (REPO / "requirements.txt").read_text().splitlines()
    pins = {Requirement(line).name: line for line in lines if "==" in line}
    return [pins[name] for name in names]


def child_env(venv: Path) -> dict[str, str]:
    """This process's environment with ``venv`` first on PATH, offline for the Hub."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    path = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env | {"PATH": path, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def run(args: list, env: dict, cwd: Path | None = None, timeout: int = 1800) -> str:
    """Run a command; fail the test with the end of its output if it fails."""
    args = [str(a) for a in args]
    env = env | {"PY_COLORS": "0"}  # plain text in the failure message
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{shlex.join(args)} failed:\n{output[-4000:]}"
    return result.stdout


def fresh_venv(path: Path, *tools: str) -> Path:
    """A new virtual environment with torch and the given tools installed; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", path], check=True)
    python = path / "bin" / "python"
    run([python, "-m", "pip", "install", "--quiet", TORCH, *tools], child_env(path))
    return python


def checkout_of_head(path: Path, branch: str) -> Path:
    """A clone of this repository with ``branch`` at HEAD: what a push of HEAD would publish."""
    head = run(["git", "-C", REPO, "rev-parse", "HEAD"], os.environ).strip()
    run(["git", "clone", "--quiet", "--no-checkout", REPO, path], os.environ)
    run(["git", "-C", path, "checkout", "--quiet", "-B", branch, head], os.environ)
    return path


def colab_install_command(notebook: Path) -> list[str]:
    """The ``%pip install ...`` line of a notebook's Colab cell, as arguments of ``pip``."""
    cell = nbformat.read(notebook, as_version=4).cells[1].source
    magic = [line.strip() for line in cell.splitlines() if line.strip().startswith("%pip install")]
    assert len(magic) == 1, f"{notebook.name}: no single %pip install line in its Colab cell"
    return shlex.split(magic[0])[1:]


def test_colab_install_then_nbval_of_the_launchable_notebooks(tmp_path):
    url, branch = notebooks.repository(REPO)
    clone = checkout_of_head(tmp_path / "unit1", branch)
    launchable = [notebooks.notebook_path(p) for p in notebooks.executable_pages(clone, "en")]
    commands = {tuple(colab_install_command(nb)) for nb in launchable}
    assert len(commands) == 1, f"the notebooks install the package differently: {commands}"
    python = fresh_venv(tmp_path / "venv", *pinned("pytest", "nbval", "ipykernel"))
    env = child_env(tmp_path / "venv")
    # git fetches the repository URL of the install cell from the clone instead (git-config(1)).
    env |= {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{clone.as_uri()}.insteadOf",
        "GIT_CONFIG_VALUE_0": url,
    }
    run([python, "-m", "pip", *commands.pop()], env)  # what %pip runs
    where = run([python, "-c", "import diffusion_course; print(diffusion_course.__file__)"], env)
    assert where.startswith(str(tmp_path / "venv")), where
    args = ["-m", "pytest", "--nbval-lax", "-x", "-p", "no:cacheprovider", "-q", *launchable]
    print(run([python, *args], env, cwd=clone)[-2000:])


def lower_bounds(requirements: list[str]) -> dict[str, str]:
    """Each requirement's ``>=`` version, by distribution name."""
    bounds = {}
    for req in map(Requirement, requirements):
        versions = [spec.version for spec in req.specifier if spec.operator == ">="]
        assert len(versions) == 1, f"{req}: state one lower bound with >="
        bounds[req.name] = versions[0]
    return bounds


def test_declared_lower_bounds_pass_the_package_tests(tmp_path):
    extras = PROJECT["optional-dependencies"]
    bounds = lower_bounds(PROJECT["dependencies"] + [r for reqs in extras.values() for r in reqs])
    del bounds["torch"]  # stays at the local wheel: its bound is not tested here
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("".join(f"{name}=={version}\n" for name, version in bounds.items()))
    python = fresh_venv(tmp_path / "venv", *pinned("pytest"))
    env = child_env(tmp_path / "venv")
    source = shutil.copytree(  # a copy: building leaves build/ and *.egg-info beside the sources
        REPO / "code", tmp_path / "code", ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    package = f"{source}[{','.join(extras)}]"
    run([python, "-m", "pip", "install", "--quiet", "-c", constraints, package], env)
    listed = run([python, "-m", "pip", "list", "--format=freeze"], env).split()
    installed = {canonicalize_name(n): Version(v) for n, v in (x.split("==") for x in listed)}
    for name, version in bounds.items():
        assert installed.get(canonicalize_name(name)) == Version(version), (name, installed)
    tests = sorted(p.name for p in (REPO / "tests").glob("test_*.py") if p.name not in BOOK_TESTS)
    args = ["-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "not slow", *tests]
    print(run([python, *args], env, cwd=REPO / "tests")[-2000:])
