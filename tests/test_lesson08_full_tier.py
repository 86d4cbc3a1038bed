"""Lesson 08's full-tier cell (deletion and insertion on photographs) cannot run here for real:
ImageNet weights cannot be downloaded. This runs the committed cell's own code with a randomly
initialised ImageNet ResNet-18 standing in for the weights, so the code path is tested (shapes,
layer names, normalisation inside the model), not the numbers it would print."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import nbformat
import torch
import torchvision

from course_utils import config, data, pretrained

LESSON = Path(__file__).resolve().parents[1] / "notebooks" / "08_trust_the_heatmap.ipynb"
MARKER = "# Full tier: deletion and insertion on photographs"


def _cells():
    nb = nbformat.read(LESSON, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    first = "\n".join(ln for ln in code[0].splitlines() if not ln.startswith("%"))
    full = next(src for src in code if src.startswith(MARKER))
    return first, full


def test_full_tier_cell_runs_on_photographs(monkeypatch):
    first, full = _cells()
    torch.manual_seed(0)
    stand_in = torchvision.models.resnet18(weights=None).eval()
    info = pretrained.ModelInfo("resnet18", "full", "random stand-in for the ImageNet weights",
                                [f"class {i}" for i in range(1000)])
    photos = data.load_photos(["chelsea", "coffee"])
    namespace: dict = {}
    exec(first, namespace)  # noqa: S102 (the lesson's own first cell)
    namespace["STEPS"] = 4
    monkeypatch.setattr(config, "requested_tier", lambda: "full")
    monkeypatch.setattr(pretrained, "load_model", lambda name, tier=None: (stand_in, info))
    monkeypatch.setattr(data, "load_photos", lambda names=None: photos)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(full, namespace)  # noqa: S102
    text = out.getvalue()
    assert "2 photos: chelsea -> class" in text
    rows = re.findall(r"^(saliency|Grad-CAM layer4|occlusion|random)\s+\|\s+([\d.]+) \|\s+([\d.]+)$",
                      text, re.M)
    assert [r[0] for r in rows] == ["saliency", "Grad-CAM layer4", "occlusion", "random"], text
    assert all(0.0 <= float(v) <= 1.0 for r in rows for v in r[1:])
    assert namespace["photo_maps"]["Grad-CAM layer4"].shape == (2, 7, 7)


def test_full_tier_cell_is_skipped_offline(monkeypatch):
    _, full = _cells()
    monkeypatch.setattr(config, "requested_tier", lambda: "offline")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(full, {"config": config, "pretrained": pretrained})  # noqa: S102
    assert out.getvalue().startswith("offline tier: no ImageNet weights here")
