"""Tests of course_utils.explain.occlusion on a tiny hand-built linear model."""
import pytest
import torch
from torch import nn

from course_utils import hooks
from course_utils.explain import occlusion


def linear_model(weight: torch.Tensor) -> nn.Module:
    """Two classes: z_0 = sum(weight * x), z_1 = 0 (no bias), for 1 x H x W images."""
    fc = nn.Linear(weight.numel(), 2, bias=False)
    with torch.no_grad():
        fc.weight.zero_()
        fc.weight[0] = weight.flatten()
    return nn.Sequential(nn.Flatten(), fc)


def test_non_overlapping_windows_by_hand():
    # z_0 = sum of the pixels: hiding a 2 x 2 patch drops the score by that patch's sum.
    model = linear_model(torch.ones(4, 4))
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    m = occlusion(model, x, 0, window=2, stride=2)
    patch_sums = torch.tensor([[0 + 1 + 4 + 5, 2 + 3 + 6 + 7], [8 + 9 + 12 + 13, 10 + 11 + 14 + 15]])
    expected = patch_sums.float().repeat_interleave(2, 0).repeat_interleave(2, 1)
    assert m.shape == (1, 4, 4)
    torch.testing.assert_close(m[0], expected)
    # The class that does not depend on the image: no drop anywhere.
    torch.testing.assert_close(occlusion(model, x, 1, window=2, stride=2), torch.zeros(1, 4, 4))


def test_overlapping_windows_average_the_drops():
    # 1 x 3 image [a, b, c] (as 1 x 1 x 1 x 3), window 1 x ... use a 3 x 3 image, window 2, stride 1:
    model = linear_model(torch.ones(3, 3))
    x = torch.ones(1, 1, 3, 3)
    m = occlusion(model, x, 0, window=2, stride=1)[0]
    # Every 2 x 2 patch of ones drops the score by 4, so every covered pixel's mean is 4.
    torch.testing.assert_close(m, torch.full((3, 3), 4.0))
    # A weight only on the centre pixel: every patch covers it, each drop is 1.
    w = torch.zeros(3, 3)
    w[1, 1] = 1.0
    m = occlusion(linear_model(w), x, 0, window=2, stride=1)[0]
    torch.testing.assert_close(m, torch.ones(3, 3))
    # A weight only on the corner pixel: only the top-left patch drops (by 1). The corner is
    # covered by 1 patch, the edge pixels (0, 1), (1, 0) by 2, the centre by 4.
    w = torch.zeros(3, 3)
    w[0, 0] = 1.0
    m = occlusion(linear_model(w), x, 0, window=2, stride=1)[0]
    expected = torch.tensor([[1.0, 0.5, 0.0], [0.5, 0.25, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(m, expected)


def test_uncovered_pixels_are_zero_and_sign_is_kept():
    # 5 x 5 image, window 2, stride 2: the last row and column are covered by no patch.
    w = -torch.ones(5, 5)  # hiding a patch *raises* z_0: negative drops
    m = occlusion(linear_model(w), torch.ones(1, 1, 5, 5), 0, window=2, stride=2)[0]
    assert (m[:4, :4] == -4).all()
    assert (m[4] == 0).all() and (m[:, 4] == 0).all()


def test_baseline_value_and_tensor():
    model = linear_model(torch.ones(2, 2))
    x = torch.full((1, 1, 2, 2), 3.0)
    # baseline 1: each pixel patch (window 1) drops 3 - 1 = 2.
    torch.testing.assert_close(occlusion(model, x, 0, window=1, stride=1, baseline=1.0),
                               torch.full((1, 2, 2), 2.0))
    # A baseline equal to the image changes nothing.
    torch.testing.assert_close(occlusion(model, x, 0, window=1, stride=1, baseline=x[0]),
                               torch.zeros(1, 2, 2))


def test_batch_and_per_image_targets_and_small_batches():
    model = linear_model(torch.ones(4, 4))
    x = torch.stack([torch.ones(1, 4, 4), 2 * torch.ones(1, 4, 4)])
    m = occlusion(model, x, [0, 1], window=2, stride=2, batch_size=3)
    torch.testing.assert_close(m[0], torch.full((4, 4), 4.0))
    torch.testing.assert_close(m[1], torch.zeros(4, 4))


def test_model_left_as_found_and_errors():
    model = linear_model(torch.ones(4, 4)).train()
    x = torch.ones(1, 1, 4, 4)
    occlusion(model, x, 0, window=2, stride=2)
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert hooks.count_hooks(model) == 0
    with pytest.raises(ValueError, match="larger than the image"):
        occlusion(model, x, 0, window=5)
    with pytest.raises(ValueError, match="stride must be a positive int"):
        occlusion(model, x, 0, window=2, stride=0)
    with pytest.raises(IndexError, match="out of range"):
        occlusion(model, x, 2, window=2, stride=2)
    with pytest.raises(ValueError, match="length 2"):
        occlusion(model, x, [0, 1], window=2, stride=2)
