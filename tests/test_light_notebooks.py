"""The committed notebooks stay light to clone: each figure at most 300 KiB, each notebook at
most 1.5 MB. Figures reach that through plot.compact_figure (PNG for plots, JPEG for photo-like
panels), which config.setup() switches on in every lesson's kernel."""
import base64
import json
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from IPython.core.formatters import DisplayFormatter  # noqa: E402

from course_utils import plot  # noqa: E402

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIGURE_LIMIT = 300 * 1024
NOTEBOOK_LIMIT = 1_500_000


def figures(path):
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        for output in cell.get("outputs", []):
            for mime, data in output.get("data", {}).items():
                if mime.startswith("image/"):
                    yield index, mime, len(base64.b64decode("".join(data)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_and_its_figures_are_light(path):
    found = list(figures(path))
    assert found, f"{path.name}: no figures found (are the outputs committed?)"
    heavy = [(i, mime, size // 1024) for i, mime, size in found if size > FIGURE_LIMIT]
    assert not heavy, f"{path.name}: figures over {FIGURE_LIMIT // 1024} KiB (cell, type, KiB): {heavy}"
    size = path.stat().st_size
    assert size <= NOTEBOOK_LIMIT, f"{path.name}: {size:,} bytes, over {NOTEBOOK_LIMIT:,}"


def test_there_are_eight_lessons():
    assert len(NOTEBOOKS) == 8


def photo_figure():
    fig, ax = plt.subplots(figsize=(13, 10))
    ax.imshow(np.random.default_rng(0).random((400, 400, 3)))
    return fig


def line_figure():
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(np.sqrt(np.arange(100)), label="sqrt")
    ax.legend()
    return fig


def test_compact_figure_keeps_plots_png_and_makes_photos_small_jpeg():
    kind, data = plot.compact_figure(line_figure())
    assert kind == "png" and data[:8] == b"\x89PNG\r\n\x1a\n"
    photo = photo_figure()
    png_size = len(plot._render(photo, "png", photo.dpi))
    kind, data = plot.compact_figure(photo)
    assert png_size > plot.PNG_LIMIT_BYTES  # the case under test: a PNG too large to keep
    assert kind == "jpeg" and data[:3] == b"\xff\xd8\xff"
    assert len(data) <= plot.FIGURE_LIMIT_BYTES
    plt.close("all")


def test_use_compact_figures_sends_one_image_per_figure():
    shell = SimpleNamespace(display_formatter=DisplayFormatter())
    assert plot.use_compact_figures(shell)
    for fig, mime in ((line_figure(), "image/png"), (photo_figure(), "image/jpeg")):
        data, _ = shell.display_formatter.format(fig)
        images = [m for m in data if m.startswith("image/")]
        assert images == [mime]
        base64.b64decode(data[mime], validate=True)
        assert "text/plain" in data  # what nbval compares is untouched
    plt.close("all")
    assert plot.use_compact_figures(SimpleNamespace()) is False
