"""Full-tier weight resolution, without network: a torch hub cache holding a state dict of the
right shapes under the file name torchvision expects."""
import pytest
import torch
import torchvision

from course_utils import models
from course_utils.config import CourseDataError
from course_utils.pretrained import load_model


@pytest.fixture
def hub(tmp_path, monkeypatch):
    # torch.hub.get_dir() is $TORCH_HOME/hub when no explicit directory was set.
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path / "hub" / "checkpoints"


def test_full_tier_reads_imagenet_weights_from_the_hub_cache(hub, monkeypatch):
    path = models.imagenet_weights_file("resnet18")
    assert path.name == "resnet18-f37072fd.pth" and path.parent == hub
    torch.manual_seed(0)
    reference = torchvision.models.resnet18()
    hub.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    monkeypatch.setenv("COURSE_DATA", "full")
    model, info = load_model("resnet18")
    assert info.tier == "full" and len(info.classes) == 1000 and info.classes[0] == "tench"
    assert torch.equal(model.fc.weight, reference.fc.weight)
    monkeypatch.setenv("COURSE_DATA", "auto")
    assert load_model("resnet18")[1].tier == "full"


def test_full_tier_without_weights_fails_clearly(hub, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "full")
    with pytest.raises(CourseDataError, match=r"ImageNet weights of resnet18.*resnet18-f37072fd\.pth"):
        load_model("resnet18")


def test_corrupted_hub_file(hub):
    hub.mkdir(parents=True)
    models.imagenet_weights_file("squeezenet1_1").write_bytes(b"not a checkpoint")
    with pytest.raises(CourseDataError, match="could not read"):
        models.imagenet_model("squeezenet1_1")
    torch.save({"weight": torch.zeros(1)}, models.imagenet_weights_file("squeezenet1_1"))
    with pytest.raises(CourseDataError, match="does not hold squeezenet1_1"):
        models.imagenet_model("squeezenet1_1")


def test_unknown_model():
    with pytest.raises(KeyError, match="unknown model"):
        load_model("resnet152")


def test_full_tier_small_model_needs_a_full_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "full")
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    with pytest.raises(CourseDataError, match="course train simple_cnn --tier full"):
        load_model("simple_cnn")


def test_squeezenet_has_no_offline_stand_in(hub, monkeypatch):
    """SqueezeNet 1.1 (lesson 03's seed 004) exists only with torchvision's ImageNet weights:
    offline, or under auto without the file, a clear error instead of a missing checkpoint."""
    for tier in ("offline", "auto"):
        with pytest.raises(CourseDataError, match="squeezenet1_1 has no offline stand-in"):
            load_model("squeezenet1_1", tier=tier)
    hub.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.squeezenet1_1().state_dict(), models.imagenet_weights_file("squeezenet1_1"))
    model, info = load_model("squeezenet1_1", tier="auto")
    assert info.tier == "full" and len(info.classes) == 1000 and not model.training
