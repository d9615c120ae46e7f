"""Execution figures from the build itself: the execution report and the chapters' run times.

myst-nb records, for every notebook page, when it was executed and how long it took (also when
the execution comes from the jupyter-cache). ``{course-exec-report}`` shows that per page with the
build machine and package versions, in the page's language; the role ``{cpu-minutes}`` prints one
page's run time in minutes, for the chapter cards of the landing page. Both are placeholders
filled in after every page has been read, when all execution data is known.
"""

from __future__ import annotations

import os
import platform
import posixpath
import shutil
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version

from docutils import nodes
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.addnodes import pending_xref
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

LOGGER = logging.getLogger(__name__)

PACKAGES = ["torch", "diffusers", "accelerate", "datasets", "numpy", "jupyter-book", "myst-nb"]
USES_FIGURES = "course_exec_figures"
BUILD_START = datetime.now(timezone.utc).timestamp()
LABELS = {
    "en": {
        "page": "Page",
        "executed": "Executed (UTC)",
        "runtime": "Run time (s)",
        "source": "Source",
        "cache": "cache of an earlier build",
        "run": "run by this build",
        "machine": "Build machine",
        "cpu": "CPU",
        "cores": "CPU cores",
        "memory": "Memory",
        "gpu": "GPU",
        "none": "none",
        "built": "Site built (UTC)",
    },
    "zh": {
        "page": "页面",
        "executed": "执行时间（UTC）",
        "runtime": "运行时长（秒）",
        "source": "来源",
        "cache": "此前构建的缓存",
        "run": "本次构建运行",
        "machine": "构建机器",
        "cpu": "CPU",
        "cores": "CPU 核数",
        "memory": "内存",
        "gpu": "GPU",
        "none": "无",
        "built": "网站构建时间（UTC）",
    },
}


class ExecReportNode(nodes.General, nodes.Element):
    """Placeholder for the execution report."""


class CpuMinutesNode(nodes.General, nodes.Element):
    """Placeholder for one page's run time in minutes."""


def labels(env) -> dict[str, str]:
    return LABELS["zh" if (env.config.language or "en").startswith("zh") else "en"]


def utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d %H:%M")


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what the platform module knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    """NVIDIA GPUs that nvidia-smi sees; none on the CPU machines that build the site."""
    if not shutil.which("nvidia-smi"):
        return []
    query = ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"]
    result = subprocess.run(query, capture_output=True, text=True, check=False)
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def machine_rows(words: dict[str, str]) -> list[tuple[str, str]]:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        (words["built"], utc(datetime.now(timezone.utc).timestamp())),
        (words["cpu"], cpu_model()),
        (words["cores"], str(os.cpu_count())),
        (words["memory"], f"{memory:.0f} GiB"),
        (words["gpu"], ", ".join(gpu_names()) or words["none"]),
        ("Python", platform.python_version()),
        *[(name, package_version(name)) for name in PACKAGES],
    ]


def table(header: list[str], rows: list[list[nodes.Node]]) -> nodes.table:
    """A docutils table with one header row; cells are lists of inline nodes."""
    tgroup = nodes.tgroup(cols=len(header))
    tgroup += [nodes.colspec(colwidth=1) for _ in header]
    head, body = nodes.thead(), nodes.tbody()
    for target, cells in [(head, [[nodes.Text(h)] for h in header]), *[(body, r) for r in rows]]:
        row = nodes.row()
        row += [nodes.entry("", nodes.paragraph("", "", *cell)) for cell in cells]
        target += row
    tgroup += [head, body]
    return nodes.table("", tgroup, classes=["colwidths-auto"])


def page_link(fromdoc: str, docname: str, env) -> nodes.Node:
    title = env.titles[docname].astext() if docname in env.titles else docname
    ref = pending_xref(
        refdoc=fromdoc,
        reftarget=posixpath.relpath(docname, posixpath.dirname(fromdoc)),
        reftype="doc",
        refdomain="std",
        refexplicit=True,
    )
    ref += nodes.inline(text=title)
    return ref


def exec_report(fromdoc: str, env) -> list[nodes.Node]:
    words = labels(env)
    data = NbMetadataCollector.get_doc_data(env)
    rows = [
        [
            [page_link(fromdoc, doc, env)],
            [nodes.Text(utc(run["mtime"]))],
            [nodes.Text("-" if run["runtime"] is None else f"{run['runtime']:.1f}")],
            [nodes.Text(words["cache"] if run["mtime"] < BUILD_START else words["run"])],
        ]
        for doc in sorted(data)
        if (run := data[doc].get("exec_data"))
    ]
    header = [words["page"], words["executed"], words["runtime"], words["source"]]
    machine = [[[nodes.Text(name)], [nodes.Text(value)]] for name, value in machine_rows(words)]
    return [table(header, rows), table([words["machine"], ""], machine)]


def cpu_minutes(fromdoc: str, target: str, env) -> nodes.Node:
    """The run time of page ``target`` (relative to ``fromdoc``) in minutes, one decimal."""
    docname = posixpath.normpath(posixpath.join(posixpath.dirname(fromdoc), target))
    run = NbMetadataCollector.get_doc_data(env).get(docname, {}).get("exec_data")
    if not run or run["runtime"] is None:
        LOGGER.warning(
            f"no execution data for {docname!r}: is it a notebook page?", location=fromdoc
        )
        return nodes.inline(text="?", classes=["cpu-minutes"])
    return nodes.inline(text=f"{run['runtime'] / 60:.1f}", classes=["cpu-minutes"])


class ExecReport(SphinxDirective):
    """``{course-exec-report}``: the table of executed pages and the build machine."""

    def run(self) -> list[nodes.Node]:
        NbMetadataCollector.set_doc_data(self.env, self.env.docname, USES_FIGURES, True)
        return [ExecReportNode()]


class CpuMinutes(SphinxRole):
    """``{cpu-minutes}`PAGE```: PAGE's measured run time in minutes (PAGE relative to this page)."""

    def run(self) -> tuple[list[nodes.Node], list]:
        NbMetadataCollector.set_doc_data(self.env, self.env.docname, USES_FIGURES, True)
        return [CpuMinutesNode(target=self.text)], []


class FillPlaceholders(SphinxPostTransform):
    """Replace the placeholders once every page's execution data is known."""

    default_priority = 8  # before references are resolved, like myst-nb's nb-exec-table

    def run(self, **kwargs) -> None:
        docname = self.env.docname
        for node in list(self.document.findall(ExecReportNode)):
            node.replace_self(exec_report(docname, self.env))
        for node in list(self.document.findall(CpuMinutesNode)):
            node.replace_self(cpu_minutes(docname, node["target"], self.env))


def pages_to_refresh(app: Sphinx, env) -> list[str]:
    """Rewrite the pages that show execution figures whenever a notebook was executed again."""
    if not NbMetadataCollector.new_exec_data(env):
        return []
    data = NbMetadataCollector.get_doc_data(env)
    return [doc for doc, flags in data.items() if flags.get(USES_FIGURES)]


def setup(app: Sphinx) -> dict:
    app.add_node(ExecReportNode)
    app.add_node(CpuMinutesNode)
    app.add_directive("course-exec-report", ExecReport)
    app.add_role("cpu-minutes", CpuMinutes())
    app.add_post_transform(FillPlaceholders)
    app.connect("env-updated", pages_to_refresh)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
