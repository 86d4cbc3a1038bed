"""``lessons.decide``: one tier per lesson, from what is present, for every subset of its needs.

The files are placed empty: deciding only looks at what is there (loading is tested by
tests/test_full_tier.py, which runs whole lessons).
"""
from __future__ import annotations

import itertools
import json

import pytest

from course_utils import config, data, lessons
from course_utils.data import full
from course_utils.models import imagenet_weights_file


def _place(key: str, root, checkpoints) -> None:
    """Make need ``key`` present (empty files where only presence is checked)."""
    if key == "mnist":
        for name in full._MNIST_RAW_FILES:
            (root / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
            (root / "MNIST" / "raw" / name).touch()
    elif key == "cifar10":
        (root / "cifar-10-batches-py").mkdir(parents=True, exist_ok=True)
        for name in full._CIFAR_FILES:
            (root / "cifar-10-batches-py" / name).touch()
    elif key == "food11":
        for folder in ("training", "evaluation"):
            (root / "food-11" / folder).mkdir(parents=True, exist_ok=True)
            (root / "food-11" / folder / "0_0.jpg").touch()
    elif key.startswith("weights:"):
        path = imagenet_weights_file(key.split(":")[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    elif key.startswith("checkpoint:"):
        manifest = checkpoints / "full" / "manifest.json"
        manifest.parent.mkdir(parents=True, exist_ok=True)
        entries = json.loads(manifest.read_text()) if manifest.exists() else {}
        entries[key.split(":")[1]] = {}
        manifest.write_text(json.dumps(entries))
    elif key != "imagenet_photos":
        raise AssertionError(key)


CASES = [(lesson, subset) for lesson, wanted in lessons.LESSON_NEEDS.items() if wanted
         for r in range(len(wanted) + 1) for subset in itertools.combinations(wanted, r)]


@pytest.mark.parametrize("lesson,present", CASES, ids=[f"{l}-{'+'.join(s) or 'none'}"
                                                        for l, s in CASES])
def test_auto_is_all_or_nothing_and_says_what_is_missing(lesson, present, tmp_path, monkeypatch):
    root, checkpoints = tmp_path / "data", tmp_path / "checkpoints"
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(checkpoints))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    root.mkdir()
    for key in present:
        _place(key, root, checkpoints)
    if "imagenet_photos" not in present:
        monkeypatch.setattr(data.sources, "imagenet_samples_dir", lambda: None)
    wanted = lessons.LESSON_NEEDS[lesson]
    missing = [k for k in wanted if k not in present]

    decision = lessons.decide(lesson, "auto")
    assert decision.tier == ("offline" if missing else "full")
    assert [n.key for n in decision.missing] == missing
    text = "\n".join(decision.lines())
    assert "COURSE_DATA=full" not in text  # nobody set it
    for key in missing:
        assert lessons.needs()[key].how in text  # the one command or download that adds it

    assert lessons.decide(lesson, "offline").tier == "offline"
    if missing:
        with pytest.raises(config.CourseDataError) as err:
            lessons.decide(lesson, "full")
        assert all(lessons.needs()[k].what in str(err.value) for k in missing)
    else:
        assert lessons.decide(lesson, "full").tier == "full"


def test_offline_banner_names_no_machine_path(monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "offline")
    for lesson in lessons.LESSON_NEEDS:
        text = "\n".join(lessons.decide(lesson).lines())
        assert "/" not in text.replace("training/ and evaluation/", ""), text


@pytest.mark.parametrize("bad", ["4", 4, "09", None])
def test_unknown_lesson_is_refused(bad):
    with pytest.raises(KeyError, match="unknown lesson"):
        lessons.start(bad, verbose=False)


def test_lesson_08_loads_its_test_models_in_every_tier(monkeypatch):
    """The data-randomisation and background-cue checkpoints come with their manifest records
    (the lesson prints them) and in eval mode, whatever tier was asked for."""
    monkeypatch.setenv("COURSE_DATA", "offline")
    setup = lessons.start("08", verbose=False)
    for key, name in (("random_labels", "resnet18_random_labels"), ("cue_model", "resnet18_cue")):
        model, info = getattr(setup, key), getattr(setup, key + "_info")
        assert not model.training and info.name == name and info.tier == "offline"
        assert {"epochs", "train_accuracy", "test_accuracy"} <= set(info.entry)
    assert "test_accuracy_no_cue" in setup.cue_model_info.entry


def test_lesson_05_measures_on_the_scenes_in_every_tier(monkeypatch):
    """Lesson 05's mask-based measurements use the scenes and the scene-trained ResNet-18 in
    every tier: offline they are the lesson's own, in the full tier ``start`` loads them beside
    the ImageNet part (faked here: only the scene part is under test)."""
    import types

    import torch

    monkeypatch.setenv("COURSE_DATA", "offline")
    setup = lessons.start("05", verbose=False)
    assert setup.scene_model is setup.model and setup.scenes.classes == setup.classes
    assert len(setup.scenes.masks) == len(setup.scenes)
    fake = types.SimpleNamespace(model=torch.nn.Linear(1, 1), lines=["imagenet part"],
                                 scenes=None, classes=["tench"])
    monkeypatch.setattr(lessons, "_imagenet_part", lambda *args, **kwargs: fake)
    fields, lines = lessons._lesson05("full", torch.device("cpu"))
    assert fields["model"] is fake.model and fields["scene_model"] is not fake.model
    assert not fields["scene_model"].training
    assert fields["scenes"].classes == setup.classes and "imagenet part" in lines
    assert any("object masks" in line for line in lines)
