"""The benchmark (course_tools.bench) in quick mode: every row is there, with usable times,
and the course's LIME gives the same explanation as lime called the source's way.

Timings are not checked (they depend on the machine and its load); see benchmarks/RESULTS.md.
"""
import math

import pytest
import torch

pytest.importorskip("captum")
pytest.importorskip("pytorch_grad_cam")
pytest.importorskip("torchcam")
pytest.importorskip("lime")

from course_tools import bench  # noqa: E402

ROLES = {"floor", "course", "reference"}


@pytest.fixture(scope="module")
def rows():
    threads = torch.get_num_threads()
    # One thread: on a busy 2-core machine two threads mostly wait for each other, and
    # this test checks the table, not the speed.
    out = bench.run(quick=True, verbose=False, threads=1)
    assert torch.get_num_threads() == threads  # the course's settings are given back
    return out


def test_every_row_is_there(rows):
    cases = [r["case"].split(" (")[0] for r in rows]
    assert cases == (["Grad-CAM"] * 4 + ["CAM"] * 3 + ["saliency"] * 3 + ["LIME"] * 3)
    methods = " | ".join(r["method"] for r in rows)
    for name in ("explain.grad_cam", "captum LayerGradCam", "pytorch-grad-cam GradCAM",
                 "forward only", "explain.cam", "torchcam CAM", "explain.saliency_class_score",
                 "captum Saliency", "explain.explain_lime", "lime, source-style"):
        assert name in methods
    for case in dict.fromkeys(r["case"] for r in rows):
        roles = [r["role"] for r in rows if r["case"] == case]
        assert set(roles) == ROLES and roles.count("floor") == roles.count("course") == 1


def test_times_and_ratios_are_positive_and_finite(rows):
    for r in rows:
        assert len(r["times_s"]) == 2  # quick: 2 rounds after the warm-up
        for value in [*r["times_s"], r["median_s"], r["min_s"], r["vs_floor"], r["vs_floor_min"]]:
            assert math.isfinite(value) and value > 0, r
        assert r["min_s"] <= r["median_s"]
        if r["role"] == "floor":
            assert r["vs_floor"] == 1.0 and r["vs_floor_min"] == 1.0
        if r["role"] == "reference":
            for key in ("course_vs_reference", "course_vs_reference_min"):
                assert math.isfinite(r[key]) and r[key] > 0
        else:
            assert r["course_vs_reference"] is None and r["course_vs_reference_min"] is None


def test_references_compute_the_same_maps(rows):
    agreements = {r["method"]: r["agrees_with_course"] for r in rows if "agrees_with_course" in r}
    assert len(agreements) == 3 and all(agreements.values()), agreements


def test_lime_course_and_source_style_give_the_same_explanation(rows):
    lime_rows = [r for r in rows if r["case"].startswith("LIME") and r["role"] != "floor"]
    assert lime_rows and all(r["same_explanation"] for r in lime_rows)


def test_markdown_has_every_row_and_the_machine(rows, tmp_path):
    path = bench.write_results(rows, tmp_path / "RESULTS.md", quick=True, threads=1)
    text = path.read_text(encoding="utf-8")
    assert f"torch {torch.__version__}" in text and "CPU:" in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    for r in rows:
        assert any(r["method"] in line for line in table)
    assert "## Goals" in text
