"""Every lesson, executed top to bottom in the full tier, and in the auto tier with part of the
data present.

The committed outputs come from the offline tier; nbval checks those. This test runs the lessons'
full-tier code paths on format-true stand-ins (:mod:`fulltier_fixture`: real file formats, random
pixels, random ImageNet weights), so a lesson that breaks for a student with the real data fails
CI. It checks that each lesson runs without an error and says which tier it ran in; the numbers
printed on random stand-ins mean nothing and are not compared.

Run it alone with ``make full-tier`` (it is part of ``make test``). Marked ``fulltier``, so the
unit suite (``make unit``) leaves it out.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_utils import lessons
from fulltier_fixture import cifar_md5_patch, write_full_tier

pytestmark = pytest.mark.fulltier

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LESSONS = sorted(p.name for p in NOTEBOOKS.glob("0*.ipynb"))


@pytest.fixture(scope="module")
def full_tier(tmp_path_factory) -> dict[str, str]:
    return write_full_tier(tmp_path_factory.mktemp("full"))


def run_lesson(name: str, env: dict[str, str], tier: str, monkeypatch) -> str:
    """Execute one lesson in a fresh kernel under ``COURSE_DATA=tier``; return its text output."""
    for key, value in env.items():
        if key != "CIFAR10_MD5":
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("COURSE_DATA", tier)
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    patch = cifar_md5_patch(env["CIFAR10_MD5"])
    if patch:  # the fixture's CIFAR-10 checksums, set before the lesson's first cell
        nb.cells.insert(0, nbformat.v4.new_code_cell(patch))
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{name} failed under COURSE_DATA={tier}:\n{str(err)[-3000:]}")
    print(f"{name}: {time.perf_counter() - started:.0f} s under COURSE_DATA={tier}")
    return "\n".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                     for out in cell.get("outputs", []) if out.get("output_type") == "stream")


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_runs_in_the_full_tier(name, full_tier, monkeypatch):
    text = run_lesson(name, full_tier, "full", monkeypatch)
    banner = re.search(r"\[course\] lesson (\d\d)\ntier: (\w+)", text)
    assert banner, f"{name} printed no [course] banner"
    expected = "any" if banner.group(1) == "01" else "full"
    assert banner.group(2) == expected, f"{name} ran in the {banner.group(2)} tier"
    assert "offline tier" not in text.split("\n", 2)[1]
    for line in FULL_TIER_LINES.get(name, ()):
        assert line in text, f"{name}: the full tier's section did not print {line!r}"


#: Lines only a lesson's full-tier code path prints (the sections that exist only there).
FULL_TIER_LINES = {
    # Seed 003: torchvision's ImageNet VGG-16 at features.29, class 386, at 224 x 224.
    "06_gradcam.ipynb": ("features.29: 512 maps of 14 x 14 for a 224 x 224 input",
                         "p(African elephant) = "),
}


@pytest.fixture(scope="module")
def partial_tier(tmp_path_factory) -> dict[str, str]:
    """food-11, the ImageNet weights and a full-tier simple_cnn present; no full-tier food-11
    checkpoint, no MNIST, no CIFAR-10 (as after a partial download)."""
    return write_full_tier(tmp_path_factory.mktemp("partial"),
                           only=("food11", "weights", "checkpoint:simple_cnn"))


@pytest.mark.parametrize("lesson", sorted(lessons.LESSON_NEEDS))
def test_auto_with_part_of_the_data_sets_up_one_tier_and_says_why(lesson, partial_tier,
                                                                   monkeypatch):
    """Under auto, each lesson's set-up (data, weights, images) runs in one tier: full where its
    needs are all here (05 and 08: ImageNet weights and photos), offline as a whole otherwise,
    naming what is missing. After the set-up a lesson depends on its tier alone, so the offline
    ones then run exactly as nbval runs them; 04 is also executed whole below."""
    for key, value in partial_tier.items():
        if key != "CIFAR10_MD5":
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("COURSE_DATA", "auto")
    setup = lessons.start(lesson, verbose=False)
    missing = {"02": "MNIST", "03": "MNIST", "04": "food11_classifier", "07": "food11_classifier",
               "06": "CIFAR-10"}
    head = setup.banner.split("\ndata:")[0]
    if lesson in missing:
        assert setup.tier == "offline" and "missing: " in head and missing[lesson] in head, head
    else:
        assert setup.tier == ("full" if lesson in ("05", "08") else "offline"), head
    assert "COURSE_DATA=full" not in setup.banner


def test_auto_with_part_of_the_data_runs_a_whole_lesson_offline(partial_tier, monkeypatch):
    """04 with food-11 but no checkpoint trained on it: the whole lesson runs offline."""
    text = run_lesson("04_food11_filter_explanation.ipynb", partial_tier, "auto", monkeypatch)
    head = text.split("\n\n")[0]
    assert "tier: offline (COURSE_DATA=auto" in head and "food11_classifier" in head, head
