"""The book's fix for progress bars: one line per bar, as in Jupyter."""

import sys
from pathlib import Path

from nbformat.v4 import new_output

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_ext"))
from progress_bars import coalesce_streams  # noqa: E402


def stream(name, text):
    return new_output("stream", name=name, text=text)


def test_redraws_of_a_bar_collapse_to_its_last_state():
    chunks = [stream("stderr", f"\rtrain:  {p:3d}%|{'#' * (p // 10)}") for p in range(0, 101, 10)]
    chunks.append(stream("stderr", "\n"))
    outputs = coalesce_streams([stream("stdout", "epoch 1\n"), *chunks])
    texts = {o["name"]: o["text"] for o in outputs}
    assert texts["stderr"] == "train:  100%|##########\n"
    assert texts["stdout"] == "epoch 1\n"


def test_separate_lines_and_other_outputs_are_kept():
    image = new_output("display_data", data={"image/png": "AAAA"})
    outputs = coalesce_streams(
        [stream("stdout", "a\n"), image, stream("stdout", "b\n"), stream("stdout", "c\n")]
    )
    assert [o["output_type"] for o in outputs] == ["stream", "display_data"]
    assert outputs[0]["text"] == "a\nb\nc\n"
