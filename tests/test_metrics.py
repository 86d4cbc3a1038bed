"""Tests of course_utils.metrics on hand-made maps and masks."""
import math

import pytest
import torch

from course_utils.metrics import mask_energy, mask_share_baseline, pointing_game

MASKS = torch.tensor([[[True, False], [False, False]],
                      [[False, False], [True, True]]])


def test_pointing_game_by_hand():
    maps = torch.tensor([[[5.0, 1.0], [2.0, 0.0]],      # max at (0, 0): inside
                         [[0.0, 9.0], [3.0, 4.0]]])     # max at (0, 1): outside
    assert pointing_game(maps, MASKS).tolist() == [True, False]


def test_pointing_game_resizes_the_map_first():
    # 1x2 map [1, 3] -> 2x2 bilinear: [[1, 3], [1, 3]]: max 3 first met at (0, 1)
    maps = torch.tensor([[[1.0, 3.0]], [[1.0, 3.0]]])
    masks = torch.tensor([[[False, True], [False, False]], [[True, False], [True, False]]])
    assert pointing_game(maps, masks).tolist() == [True, False]


def test_pointing_game_near_ties_go_to_the_first_peak_in_row_major_order():
    # Two peaks 1e-7 apart (relative): which is larger depends on the last bits of the
    # arithmetic, so both count as the maximum and the first one, (0, 1), is the point.
    near = torch.zeros(2, 3, 3)
    near[:, 0, 1] = 1.0
    near[:, 2, 2] = 1.0 + 1e-7
    masks = torch.zeros(2, 3, 3, dtype=torch.bool)
    masks[0, 0, 1] = True
    masks[1, 2, 2] = True
    assert pointing_game(near, masks).tolist() == [True, False]
    # A clear winner (1e-3 of the range) is no tie.
    clear = near.clone()
    clear[:, 2, 2] = 1.001
    assert pointing_game(clear, masks).tolist() == [False, True]


def test_pointing_game_warns_on_a_constant_map():
    with pytest.warns(UserWarning, match=r"sample\(s\) \[1\] is constant"):
        pointing_game(torch.stack([torch.eye(2), torch.ones(2, 2)]), MASKS)


def test_mask_energy_by_hand():
    maps = torch.tensor([[[3.0, 1.0], [0.0, 0.0]],      # 3 of 4 inside
                         [[1.0, 1.0], [1.0, 1.0]]])     # uniform: 2 of 4 inside
    torch.testing.assert_close(mask_energy(maps, MASKS), torch.tensor([0.75, 0.5]))
    # The uniform map scores exactly the baseline.
    torch.testing.assert_close(mask_share_baseline(MASKS), torch.tensor([0.25, 0.5]))


def test_mask_energy_zero_map_is_nan_with_a_warning():
    maps = torch.stack([torch.zeros(2, 2), torch.eye(2)])
    with pytest.warns(UserWarning, match=r"sample\(s\) \[0\] is zero everywhere"):
        e = mask_energy(maps, MASKS)
    assert math.isnan(e[0]) and e[1] == pytest.approx(0.5)


def test_metric_input_errors():
    with pytest.raises(ValueError, match="non-negative"):
        mask_energy(-torch.ones(2, 2, 2), MASKS)
    with pytest.raises(ValueError, match="bool tensor"):
        pointing_game(torch.ones(2, 2, 2), MASKS.float())
    with pytest.raises(ValueError, match="2 maps but 1 masks"):
        mask_energy(torch.ones(2, 2, 2), MASKS[:1])
    with pytest.raises(ValueError, match="NaN or inf"):
        pointing_game(torch.full((2, 2, 2), float("nan")), MASKS)


def test_pointing_game_tolerance_counts_near_misses_by_euclidean_distance():
    masks = torch.zeros(3, 10, 10, dtype=torch.bool)
    masks[:, 0, 0] = True                        # the object: the top-left pixel
    masks[2] = False                             # sample 2: no object at all
    maps = torch.zeros(3, 10, 10)
    maps[0, 3, 4] = 1.0                          # 5 pixels from (0, 0): sqrt(3^2 + 4^2)
    maps[1, 4, 4] = 1.0                          # sqrt(32) = 5.66 pixels away
    maps[2, 0, 0] = 1.0
    assert pointing_game(maps, masks).tolist() == [False, False, False]
    assert pointing_game(maps, masks, tolerance=5).tolist() == [True, False, False]
    assert pointing_game(maps, masks, tolerance=5.7).tolist() == [True, True, False]
    with pytest.raises(ValueError, match="tolerance"):
        pointing_game(maps, masks, tolerance=-1)
