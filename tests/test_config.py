import pytest
import torch

from course_utils import config
from course_utils.config import CourseDataError, resolve_tier


def test_tier_resolution(monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "auto")
    assert resolve_tier("x", True, "") == "full"
    assert resolve_tier("x", False, "") == "offline"
    monkeypatch.setenv("COURSE_DATA", "offline")
    assert resolve_tier("x", True, "") == "offline"
    monkeypatch.setenv("COURSE_DATA", "full")
    assert resolve_tier("x", True, "") == "full"
    with pytest.raises(CourseDataError, match="COURSE_DATA=full but MNIST is not available. Put it there."):
        resolve_tier("MNIST", False, "Put it there.")


def test_bad_tier_value(monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "online")
    with pytest.raises(ValueError, match="not one of auto, offline, full"):
        config.requested_tier()
    with pytest.raises(ValueError, match="tier must be one of"):
        resolve_tier("x", True, "", tier="web")


def test_setup_is_reproducible(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.setup(seed=3) == torch.device("cpu")
    a = torch.rand(3)
    config.setup(seed=3)
    assert torch.equal(a, torch.rand(3))
    assert torch.get_num_threads() == 2
    assert torch.are_deterministic_algorithms_enabled()


def test_banner_is_one_line():
    line = config.banner("offline", "real MNIST digits", "course checkpoint")
    assert "\n" not in line and "tier=offline" in line
