"""course_utils.memory.RememberingModel: same outputs as the model, each new image run once."""
import pytest
import torch
from torch import nn

from course_utils.memory import RememberingModel


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3)).eval()


def test_same_outputs_and_counts_new_images_only():
    model = small_model()
    wrapped = RememberingModel(model).eval()
    x = torch.rand(5, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(wrapped(x), model(x), atol=1e-6)
        assert wrapped.forward_passes == 5
        y = torch.cat([x[:2], torch.rand(2, 3, 8, 8)])              # two seen, two new
        assert torch.allclose(wrapped(y), model(y), atol=1e-6)
    assert wrapped.forward_passes == 7 and wrapped.seconds > 0


def test_repeated_image_in_one_batch_counts_once():
    wrapped = RememberingModel(small_model())
    x = torch.rand(1, 3, 8, 8).repeat(3, 1, 1, 1)
    with torch.no_grad():
        out = wrapped(x)
    assert out.shape == (3, 3) and wrapped.forward_passes == 1


def test_key_includes_dtype_and_shape():
    a = torch.zeros(3, 4, 4)
    assert RememberingModel._key(a) != RememberingModel._key(a.double())
    assert RememberingModel._key(a) != RememberingModel._key(torch.zeros(3, 2, 8))


def test_empty_batch_is_an_error():
    with pytest.raises(ValueError, match="non-empty batch"):
        RememberingModel(small_model())(torch.zeros(0, 3, 8, 8))
