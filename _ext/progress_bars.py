"""Show progress bars on the built pages the way Jupyter shows them: one line per bar.

tqdm redraws a bar by writing ``"\\r 40%|████ ..."`` again and again. Jupyter keeps only the text
after the last carriage return of each line. myst-nb 1.4 merges a cell's stream chunks but
appends a newline after every chunk, so each redraw becomes a line of its own and a training
loop prints hundreds of lines. This extension merges the chunks as they were written and then
lets myst-nb apply its usual carriage-return handling.
"""

from __future__ import annotations

import copy

from myst_nb.core import render
from myst_nb.core.utils import coalesce_streams as _myst_coalesce
from sphinx.application import Sphinx


def merge_stream_chunks(outputs: list) -> list:
    """Join consecutive chunks of each stream (stdout, stderr) verbatim, keeping other outputs."""
    merged: list = []
    streams: dict = {}
    for output in outputs or []:
        if output.get("output_type") != "stream":
            merged.append(output)
        elif output["name"] in streams:
            streams[output["name"]]["text"] += output["text"]
        else:
            first = copy.deepcopy(output)
            streams[output["name"]] = first
            merged.append(first)
    return merged


def coalesce_streams(outputs: list) -> list:
    """myst-nb's stream handling, applied to chunks merged without extra newlines."""
    return _myst_coalesce(merge_stream_chunks(outputs))


def setup(app: Sphinx) -> dict:
    render.coalesce_streams = coalesce_streams
    return {"parallel_read_safe": True, "parallel_write_safe": True}
