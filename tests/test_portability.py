"""The portability stamp: any change to a code cell's source or outputs makes a lesson pending."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from course_tools import portability

LESSON = Path(__file__).resolve().parents[1] / "notebooks" / "03_mnist_saliency.ipynb"
ENV = "ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2"


@pytest.fixture
def stamped(tmp_path) -> Path:
    path = tmp_path / LESSON.name
    shutil.copyfile(LESSON, path)
    portability.stamp(path, ENV)
    return path


def _edit(path: Path, change) -> None:
    nb = nbformat.read(path, as_version=4)
    change(next(c for c in nb.cells if c.cell_type == "code" and c.outputs))
    nbformat.write(nb, path)


def test_a_fresh_stamp_matches(stamped):
    assert portability.pending([stamped], ENV) == []
    assert portability.pending([stamped], ENV + " ONEDNN_MAX_CPU_ISA=SSE41") == [stamped]


@pytest.mark.parametrize("change", [
    lambda c: c.outputs[0].__setitem__("text", c.outputs[0].get("text", "") + "0"),  # a number
    lambda c: setattr(c, "source", c.source + "\n# edited"),                        # the code
    lambda c: c.outputs.pop(),                                                       # an output
])
def test_any_change_to_code_or_outputs_makes_it_pending(stamped, change):
    _edit(stamped, change)
    assert portability.pending([stamped], ENV) == [stamped]


def test_an_unstamped_lesson_is_pending(tmp_path):
    path = tmp_path / "x.ipynb"
    nb = nbformat.read(LESSON, as_version=4)
    nb.metadata.pop(portability.STAMP_KEY, None)
    nbformat.write(nb, path)
    assert portability.pending([path], ENV) == [path]


def test_cli_refuses_a_missing_notebook(tmp_path, capsys):
    with pytest.raises(SystemExit):
        portability.main(["pending", "--check-env", ENV, str(tmp_path / "nope.ipynb")])
    assert "no such notebook" in capsys.readouterr().err
