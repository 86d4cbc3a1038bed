"""`course train NAME --tier full` on tiny data in the real formats: a manifest-listed checkpoint
that the lessons load, an --epochs override recorded, time and accuracy printed."""
from __future__ import annotations

import json

import pytest

from course_tools import cli
from course_utils import pretrained
from course_utils.checkpoints import MANIFEST, load_checkpoint
from fixtures_data import (patch_cifar10_md5, write_cifar10, write_food11, write_food11_homework,
                           write_image_modes)


@pytest.fixture
def roots(tmp_path, monkeypatch):
    data, ckpt = tmp_path / "data", tmp_path / "checkpoints"
    data.mkdir()
    ckpt.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(data))
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(ckpt))
    monkeypatch.setenv("COURSE_DATA", "offline")  # the lessons' setting must not matter
    return data, ckpt


def _manifest(ckpt):
    return json.loads((ckpt / "full" / MANIFEST).read_text(encoding="utf-8"))


def test_train_simple_cnn_full_one_epoch_is_listed_and_loadable(roots, monkeypatch, capsys):
    data, ckpt = roots
    written = write_cifar10(data, per_batch=16, n_test=10)
    patch_cifar10_md5(monkeypatch, written["md5"])
    assert cli.main(["train", "simple_cnn", "--tier", "full", "--epochs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    entry = _manifest(ckpt)["simple_cnn"]
    assert entry["tier"] == "full" and entry["epochs"] == 1
    assert entry["epochs_override"] is True and entry["recipe_epochs"] == 15
    assert "--epochs" in entry["note"] and entry["command"].endswith("--tier full --epochs 1")
    assert entry["data_note"].startswith("real CIFAR-10") and "stand-in" not in entry["data_note"]
    assert entry["test_images"] == 10 and 0.0 <= entry["test_accuracy"] <= 1.0
    assert entry["train_seconds"] >= 0
    # printed: time, epochs (and that they were overridden), accuracy, file
    assert "simple_cnn: trained in " in out and "for 1 epoch(s) (--epochs override; the recipe has 15)" in out
    assert f"held-out accuracy {entry['test_accuracy']:.2%} on 10 images" in out
    assert "wrote simple_cnn.pt" in out
    # usable: the lessons' loader finds it in the full tier (and auto), sha256 verified
    model, info = pretrained.load_model("simple_cnn", tier="full")
    assert info.tier == "full" and info.entry["sha256"] == entry["sha256"]
    assert pretrained.load_model("simple_cnn", tier="auto")[1].tier == "full"
    # course verify checks checkpoints/full/ too
    (ckpt / "manifest.json").write_text("{}")
    assert cli.main(["verify"]) == 0
    assert "ok  simple_cnn" in capsys.readouterr().out


def test_train_food11_full_converts_rgb_and_uses_homework_validation(roots, capsys):
    data, ckpt = roots
    # the homework's layout: no evaluation/; 40 training images (batch 32), some not RGB
    write_food11_homework(data, train_labels=[k % 11 for k in range(40)],
                          validation_labels=(1, 2, 3), n_testing=2)
    write_image_modes(data / "food-11" / "training", modes=(("L", "JPEG"), ("CMYK", "JPEG")))
    assert cli.main(["train", "food11_classifier", "--tier", "full", "--epochs", "1",
                     "--quiet"]) == 0
    out = capsys.readouterr().out
    entry = _manifest(ckpt)["food11_classifier"]
    assert entry["convert_to_rgb"] is True
    assert entry["converted_to_rgb"] == {"train": 2, "validation": 0}
    assert "validation/" in entry["held_out_note"] and entry["test_images"] == 3
    assert "real food-11 photos" in entry["data_note"]
    assert "note: held-out accuracy measured on" in out
    assert "converted to RGB on reading: 2 train image(s)" in out
    model, _ = load_checkpoint("food11_classifier", folder=ckpt / "full")
    # strict mode refuses the non-RGB files, naming one, and writes nothing new
    before = (ckpt / "full" / MANIFEST).read_text()
    assert cli.main(["train", "food11_classifier", "--tier", "full", "--epochs", "1", "--quiet",
                     "--no-rgb-conversion"]) == 2
    assert "is a L image" in capsys.readouterr().err
    assert (ckpt / "full" / MANIFEST).read_text() == before


def test_train_full_refuses_imagenet_models_and_missing_data(roots, capsys):
    data, ckpt = roots
    assert cli.main(["train", "resnet18", "--tier", "full"]) == 2
    assert "ImageNet weights" in capsys.readouterr().err
    assert cli.main(["train", "food11_classifier", "--tier", "full", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "food-11" in err and "never downloaded" in err
    assert not (ckpt / "full").exists()


def test_train_full_recipe_epochs_have_no_override_fields(roots, monkeypatch):
    from course_tools import train

    data, ckpt = roots
    write_food11(data, "training", labels=[k % 11 for k in range(32)])
    write_food11(data, "evaluation", labels=(0, 1))
    monkeypatch.setitem(train.RECIPES, "food11_classifier",
                        train.RECIPES["food11_classifier"].__class__(
                            **{**train.RECIPES["food11_classifier"].__dict__, "epochs": 1}))
    entry = train.train_recipe("food11_classifier", tier="full", progress=False)
    assert "epochs_override" not in entry and "held_out_note" not in entry
    assert entry["command"] == "course train food11_classifier --tier full"
    assert _manifest(ckpt)["food11_classifier"]["sha256"] == entry["sha256"]
