"""Tests of the region helpers of course_utils.metrics (lesson 03): dilate_masks, region_shares,
share_table and stride_phase_ratio."""
import numpy as np
import pytest
import torch
from scipy.ndimage import binary_dilation

from course_utils.metrics import (dilate_masks, mask_share_baseline, region_shares, share_table,
                                  stride_phase_ratio)


@pytest.mark.parametrize("radius", [0, 1, 2, 5])
def test_dilate_masks_matches_scipy_square_dilation(radius):
    gen = torch.Generator().manual_seed(radius)
    masks = torch.rand(3, 17, 13, generator=gen) > 0.93
    masks[2] = False                                   # an empty mask stays empty
    got = dilate_masks(masks, radius)
    square = np.ones((2 * radius + 1, 2 * radius + 1), bool)
    for n in range(3):
        expected = binary_dilation(masks[n].numpy(), structure=square) if radius else masks[n].numpy()
        assert np.array_equal(got[n].numpy(), expected)
    assert got.dtype == torch.bool and not got[2].any()


def test_dilate_masks_by_hand_at_the_border():
    masks = torch.zeros(1, 4, 4, dtype=torch.bool)
    masks[0, 0, 0] = True
    assert dilate_masks(masks, 1)[0].nonzero().tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_dilate_masks_input_errors():
    with pytest.raises(ValueError, match="bool tensor"):
        dilate_masks(torch.zeros(1, 4, 4), 1)
    with pytest.raises(ValueError, match="radius"):
        dilate_masks(torch.zeros(1, 4, 4, dtype=torch.bool), -1)


def test_region_shares_of_a_partition_add_up_to_one():
    maps = torch.tensor([[[4.0, 1.0], [3.0, 2.0]]])
    inside = torch.tensor([[[True, False], [False, False]]])
    band = torch.tensor([[[False, True], [True, False]]])
    shares = region_shares(maps, {"in": inside, "band": band, "rest": ~inside & ~band})
    assert [round(float(s), 6) for s in (shares["in"][0], shares["band"][0], shares["rest"][0])] \
        == [0.4, 0.4, 0.2]
    with pytest.raises(ValueError, match="empty"):
        region_shares(maps, {})


def test_share_table_rows_are_the_means_over_the_images():
    maps = torch.tensor([[[4.0, 1.0], [3.0, 2.0]], [[1.0, 1.0], [1.0, 1.0]]])
    inside = torch.tensor([[[True, False], [False, False]], [[True, True], [False, False]]])
    text = share_table({"m": maps}, {"inside": inside, "outside": ~inside})
    lines = text.splitlines()
    assert lines[0].split("|")[1].strip() == "inside"
    pixels = [float(v) for v in lines[1].split("|")[1:]]
    assert pixels == pytest.approx([float(mask_share_baseline(inside).mean()), 0.625])
    m = [float(v) for v in lines[2].split("|")[1:]]
    assert lines[2].startswith("m ") and m == pytest.approx([(0.4 + 0.5) / 2, (0.6 + 0.5) / 2])
    with pytest.raises(ValueError, match="empty"):
        share_table({}, {"inside": inside})


def test_stride_phase_ratio_sees_a_grid_and_nothing_else():
    flat = torch.ones(2, 8, 8)
    assert stride_phase_ratio(flat, 4).tolist() == [1.0, 1.0]
    grid = torch.ones(1, 8, 8)
    grid[0, ::4, 1::4] = 3.0                           # phase (0, 1) three times as bright
    assert stride_phase_ratio(grid, 4).tolist() == [3.0]
    assert stride_phase_ratio(grid, 2).tolist() == [pytest.approx(1.5)]   # 4 of 16 at 3: 1.5 vs 1
    noise = torch.rand(1, 256, 256, generator=torch.Generator().manual_seed(0))
    assert 1.0 < float(stride_phase_ratio(noise, 4)) < 1.1   # no period: close to 1


def test_stride_phase_ratio_input_errors():
    with pytest.raises(ValueError, match="tile"):
        stride_phase_ratio(torch.ones(1, 6, 8), 4)
    with pytest.raises(ValueError, match="non-negative"):
        stride_phase_ratio(-torch.ones(1, 8, 8), 4)
    with pytest.raises(ValueError, match="float tensor"):
        stride_phase_ratio(torch.ones(8, 8), 4)
