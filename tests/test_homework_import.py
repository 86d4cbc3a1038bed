"""`course import-homework-checkpoint PATH`: the food-11 homework's own checkpoint.pth, saved
here from the homework's Classifier as the homework writes it (seed 001), becomes the full
tier's food11_classifier; wrong shapes and broken files are refused, naming what is wrong."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from course_tools import cli
from course_tools.homework import find_state_dict, import_homework_checkpoint
from course_utils import models, pretrained
from course_utils.checkpoints import MANIFEST
from course_utils.config import CourseDataError
from course_utils.data import load_dataset
from fixtures_data import write_food11


class HomeworkClassifier(nn.Module):
    """The homework's Classifier, as written in its notebook (seed 001)."""

    def __init__(self):
        super().__init__()

        def building_block(indim, outdim):
            return [nn.Conv2d(indim, outdim, 3, 1, 1), nn.BatchNorm2d(outdim), nn.ReLU()]

        def stack_blocks(indim, outdim, block_num):
            layers = building_block(indim, outdim)
            for _ in range(block_num - 1):
                layers += building_block(outdim, outdim)
            layers.append(nn.MaxPool2d(2, 2, 0))
            return layers

        cnn_list = []
        cnn_list += stack_blocks(3, 128, 3)
        cnn_list += stack_blocks(128, 128, 3)
        cnn_list += stack_blocks(128, 256, 3)
        cnn_list += stack_blocks(256, 512, 1)
        cnn_list += stack_blocks(512, 512, 1)
        self.cnn = nn.Sequential(*cnn_list)
        self.fc = nn.Sequential(nn.Linear(512 * 4 * 4, 1024), nn.ReLU(), nn.Dropout(p=0.3),
                                nn.Linear(1024, 11))

    def forward(self, x):
        out = self.cnn(x)
        return self.fc(out.reshape(out.size()[0], -1))


@pytest.fixture(scope="module")
def homework_model():
    torch.manual_seed(0)
    model = HomeworkClassifier()
    with torch.no_grad():  # BatchNorm statistics as after training, not the identity
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(100)
    return model.eval()


@pytest.fixture
def roots(tmp_path, monkeypatch):
    data, ckpt = tmp_path / "data", tmp_path / "checkpoints"
    data.mkdir()
    ckpt.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(data))
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(ckpt))
    return data, ckpt


def test_course_classifier_full_width_is_the_homeworks(homework_model):
    ours = models.Classifier(num_classes=11, width_divisor=1).state_dict()
    theirs = homework_model.state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)


def test_import_wrapped_checkpoint_measures_and_lessons_load_it(roots, homework_model, capsys,
                                                                one_thread):
    data, ckpt = roots
    write_food11(data, "evaluation", labels=(0, 3, 10, 5))
    path = data.parent / "checkpoint.pth"
    # as the homework's training notebook saves it
    torch.save({"model_state_dict": homework_model.state_dict(), "epoch": 30,
                "optimizer_state_dict": {"state": {}, "param_groups": []}}, path)
    assert cli.main(["import-homework-checkpoint", str(path)]) == 0
    out = capsys.readouterr().out
    entry = json.loads((ckpt / "full" / MANIFEST).read_text())["food11_classifier"]
    assert entry["architecture"] == "Classifier" and entry["arch_kwargs"]["width_divisor"] == 1
    assert entry["tier"] == "full" and entry["test_images"] == 4
    assert entry["imported_how"] == "took the weights under 'model_state_dict'"
    assert "measuring the accuracy on 4 images of evaluation/ on CPU" in out
    assert "held-out accuracy" in out and "on 4 images" in out
    model, info = pretrained.load_model("food11_classifier", tier="full")
    assert info.tier == "full" and isinstance(model, models.Classifier)
    x = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = homework_model(x), model(x)
    torch.testing.assert_close(got, expected, atol=0.05, rtol=0.02)  # stored as float16
    assert (got.argmax(1) == expected.argmax(1)).all()
    images, labels = load_dataset("food11", "test", tier="full").getbatch(range(4))
    with torch.no_grad():
        stored_acc = (model(images).argmax(1) == labels).float().mean().item()
    assert entry["test_accuracy"] == pytest.approx(stored_acc)


@pytest.mark.parametrize("form", ["plain", "dataparallel", "nested"])
def test_common_checkpoint_forms_are_unwrapped(homework_model, form):
    state = homework_model.state_dict()
    if form == "dataparallel":
        obj = {"model_state_dict": {f"module.{k}": v for k, v in state.items()}}
    elif form == "nested":
        obj = {"checkpoint": 1, "state_dict": {"model": dict(state)}}
    else:
        obj = state
    found, steps = find_state_dict(obj)
    assert list(found) == list(state)
    if form == "dataparallel":
        assert steps == ["took the weights under 'model_state_dict'",
                         "removed the 'module.' prefix from every key (nn.DataParallel)"]


def test_without_data_it_imports_unmeasured(roots, homework_model, capsys):
    data, ckpt = roots
    path = data.parent / "checkpoint.pth"
    torch.save({f"module.{k}": v for k, v in homework_model.state_dict().items()}, path)
    entry = import_homework_checkpoint(path)
    assert entry["test_accuracy"] is None and "not measured" in entry["held_out_note"]
    assert (ckpt / "full" / "food11_classifier.pt").is_file()


def test_wrong_shapes_name_every_key_and_the_expected_shape(roots, capsys):
    data, ckpt = roots
    path = data.parent / "narrow.pth"
    torch.save({"model_state_dict": models.Classifier(11, width_divisor=8).state_dict()}, path)
    assert cli.main(["import-homework-checkpoint", str(path)]) == 2
    err = capsys.readouterr().err
    assert "cnn.0.weight is (16, 3, 3, 3), expected (128, 3, 3, 3)" in err
    assert "fc.0.weight is (1024, 1024), expected (1024, 8192)" in err
    assert "has 16 channels where the homework's has 128" in err
    assert not (ckpt / "full").exists()  # nothing written
    torch.save(models.Classifier(10, width_divisor=1).state_dict(), path)
    with pytest.raises(CourseDataError, match=r"2 tensor\(s\) in 1 layer\(s\) have another shape: fc.3.weight "
                                              r"is \(10, 1024\), expected \(11, 1024\) "
                                              r"\(and 1 bias/statistics tensor\(s\) of the same layers\).*"
                                              r"last layer has 10 outputs"):
        import_homework_checkpoint(path)
    state = models.Classifier(11, width_divisor=1).state_dict()
    del state["cnn.4.weight"]
    state["head.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(CourseDataError, match=r"1 key\(s\) missing: cnn.4.weight\. "
                                              r"1 unexpected key\(s\): head.weight"):
        import_homework_checkpoint(path)
    torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    with pytest.raises(CourseDataError, match="not named cnn.N / fc.N"):
        import_homework_checkpoint(path)


def test_broken_files_are_refused_clearly(roots, tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"model_state_dict": {"w": torch.zeros(3)}}, good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:300])
    text = tmp_path / "text.pth"
    text.write_text("<html>Google Drive: virus scan warning</html>")
    for path in (truncated, text):
        with pytest.raises(CourseDataError, match=rf"cannot read {path} as a PyTorch checkpoint.*"
                                                  "corrupt, truncated or not a torch.save file"):
            import_homework_checkpoint(path)
    whole = tmp_path / "whole.pth"
    torch.save(nn.Linear(2, 2), whole)
    with pytest.raises(CourseDataError, match=r"pickled Python objects.*torch.save\(model."
                                              r"state_dict\(\), 'checkpoint.pth'\)"):
        import_homework_checkpoint(whole)
    with pytest.raises(CourseDataError, match="dict without model weights: its keys are 'epoch'"):
        torch.save({"epoch": 3}, good)
        import_homework_checkpoint(good)
    with pytest.raises(CourseDataError, match="no file at"):
        import_homework_checkpoint(tmp_path / "missing.pth")
