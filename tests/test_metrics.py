"""Tests of course_utils.metrics on hand-made maps and masks."""
import importlib
import math

import numpy as np
import pytest
import torch

from course_utils import metrics
from course_utils.metrics import mask_energy, mask_share_baseline, pointing_game, sobel_edge_map

MASKS = torch.tensor([[[True, False], [False, False]],
                      [[False, False], [True, True]]])


def test_pointing_game_by_hand():
    maps = torch.tensor([[[5.0, 1.0], [2.0, 0.0]],      # max at (0, 0): inside
                         [[0.0, 9.0], [3.0, 4.0]]])     # max at (0, 1): outside
    hits = pointing_game(maps, MASKS)
    assert hits.dtype == torch.float32 and hits.tolist() == [1.0, 0.0]


def test_pointing_game_resizes_the_map_first():
    # 1x2 map [1, 3] -> 2x2 bilinear: [[1, 3], [1, 3]]: the maximum 3 is tied at (0, 1), (1, 1)
    maps = torch.tensor([[[1.0, 3.0]], [[1.0, 3.0]], [[1.0, 3.0]]])
    masks = torch.tensor([[[False, True], [False, False]],      # one of the two tied: 1/2
                          [[True, False], [True, False]],       # neither: 0
                          [[False, True], [False, True]]])      # both: 1
    assert pointing_game(maps, masks).tolist() == [0.5, 0.0, 1.0]


def test_pointing_game_a_clear_winner_scores_exactly_zero_or_one():
    torch.manual_seed(0)
    maps = torch.rand(6, 9, 7)
    masks = torch.rand(6, 9, 7) < 0.5
    top = maps.flatten(1).argmax(1)
    assert ((maps.flatten(1) >= maps.flatten(1).amax(1, keepdim=True) - 1e-3).sum(1) == 1).all()
    expected = masks.flatten(1).gather(1, top[:, None])[:, 0].float()
    hits = pointing_game(maps, masks)
    assert torch.equal(hits, expected) and set(hits.tolist()) == {0.0, 1.0}


def test_pointing_game_near_ties_straddling_the_mask_score_the_share_inside():
    # Two peaks 1e-7 apart (relative): which is larger depends on the last bits of the
    # arithmetic, so both count as the maximum; one is on the object, one is not: 1/2, whichever
    # of the two the mask covers (no scan order decides).
    near = torch.zeros(2, 3, 3)
    near[:, 0, 1] = 1.0
    near[:, 2, 2] = 1.0 + 1e-7
    masks = torch.zeros(2, 3, 3, dtype=torch.bool)
    masks[0, 0, 1] = True
    masks[1, 2, 2] = True
    assert pointing_game(near, masks).tolist() == [0.5, 0.5]
    # Three tied peaks (within POINTING_TIE_RTOL = 1e-4 of the range), two on the object: 2/3.
    three = near[:1].clone()
    three[0, 1, 0] = 1.0 - 5e-5
    both = masks[:1] | masks[1:]
    assert pointing_game(three, both).tolist() == [pytest.approx(2 / 3)]
    # A clear winner (1e-3 of the range) is no tie: exactly 0 or 1.
    clear = near.clone()
    clear[:, 2, 2] = 1.001
    assert pointing_game(clear, masks).tolist() == [0.0, 1.0]


def test_pointing_game_does_not_depend_on_scan_order():
    # A winning plateau (an occlusion patch) that straddles the object's edge, plus noise-level
    # near-ties elsewhere: transposing map and mask, or flipping them, changes the scan order
    # of the tied pixels but not the score.
    maps = torch.zeros(3, 12, 10)
    maps[:, 2:6, 3:7] = 1.0                                  # a 4 x 4 plateau: 16 tied pixels
    maps[1, 9, 8] = 1.0 - 2e-5                               # a 17th tie, far away
    masks = torch.zeros(3, 12, 10, dtype=torch.bool)
    masks[0, 4:10, 5:9] = True                               # covers 2 x 2 = 4 of the plateau
    masks[1, 4:10, 5:9] = True                               # 4 + the far tie = 5 of 17
    masks[2, 0:3, 0:10] = True                               # its first row only: 4 of 16
    # (row-major order would score image 0 a miss, image 2 a hit: the plateau's corner (2, 3)).
    hits = pointing_game(maps, masks)
    torch.testing.assert_close(hits, torch.tensor([4 / 16, 5 / 17, 4 / 16]))
    torch.testing.assert_close(pointing_game(maps.transpose(1, 2), masks.transpose(1, 2)), hits)
    torch.testing.assert_close(pointing_game(maps.flip(1, 2), masks.flip(1, 2)), hits)


def test_pointing_game_of_a_constant_map_is_the_random_baseline():
    maps = torch.stack([torch.eye(2), torch.ones(2, 2)])      # eye: two tied maxima, one hit
    with pytest.warns(UserWarning, match=r"sample\(s\) \[1\] is constant.*random baseline"):
        hits = pointing_game(maps, MASKS)
    assert hits.tolist() == [0.5, 0.5] and hits[1] == mask_share_baseline(MASKS)[1]
    # on a bigger image too, and with a tolerance (every pixel within it counts)
    masks = torch.zeros(1, 10, 10, dtype=torch.bool)
    masks[0, 0, :3] = True
    with pytest.warns(UserWarning, match="is constant"):
        assert pointing_game(torch.zeros(1, 10, 10), masks).tolist() == [pytest.approx(0.03)]
    with pytest.warns(UserWarning, match="is constant"):
        # within 1 pixel of the row segment (0, 0..2): rows 0-1, columns 0..3 minus (1, 3): 7
        assert pointing_game(torch.zeros(1, 10, 10), masks, tolerance=1).tolist() == \
            [pytest.approx(0.07)]


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
    assert pointing_game(maps, masks).tolist() == [0.0, 0.0, 0.0]
    assert pointing_game(maps, masks, tolerance=5).tolist() == [1.0, 0.0, 0.0]
    assert pointing_game(maps, masks, tolerance=5.7).tolist() == [1.0, 1.0, 0.0]
    for bad in (-1, float("nan"), float("inf"), True, "5"):
        with pytest.raises(ValueError, match="tolerance"):
            pointing_game(maps, masks, tolerance=bad)


def test_pointing_game_tolerance_with_ties_counts_each_tied_maximum_on_its_own():
    # Two tied maxima, at distances 3 and 6 from the one-pixel object at (0, 0).
    masks = torch.zeros(1, 10, 10, dtype=torch.bool)
    masks[0, 0, 0] = True
    maps = torch.zeros(1, 10, 10)
    maps[0, 3, 0] = maps[0, 0, 6] = 1.0
    assert pointing_game(maps, masks).tolist() == [0.0]
    assert pointing_game(maps, masks, tolerance=3).tolist() == [0.5]
    assert pointing_game(maps, masks, tolerance=5.99).tolist() == [0.5]
    assert pointing_game(maps, masks, tolerance=6).tolist() == [1.0]
    # Zhang et al.'s 15 pixels at 224 x 224: a peak 15 pixels right of the object's edge hits,
    # one 16 pixels away does not.
    big = torch.zeros(2, 224, 224, dtype=torch.bool)
    big[:, 100:120, 100:120] = True
    peaks = torch.zeros(2, 224, 224)
    peaks[0, 110, 119 + 15] = 1.0
    peaks[1, 110, 119 + 16] = 1.0
    assert pointing_game(peaks, big, tolerance=15).tolist() == [1.0, 0.0]


# --------------------------------------------------------------------------- Sobel baseline

@pytest.mark.parametrize("channels", [1, 3])
def test_sobel_edge_map_matches_scikit_image(channels):
    skimage = importlib.import_module("skimage")
    importlib.import_module("skimage.filters")
    importlib.import_module("skimage.color")
    torch.manual_seed(0)
    x = torch.rand(3, channels, 9, 13, dtype=torch.float64)
    x[0] = 0.5                                        # a flat image: no edges at all
    x[1, :, :, 6:] += 1.0                             # a vertical step
    ours = sobel_edge_map(x)
    images = [im.permute(1, 2, 0).numpy() for im in x]
    grey = [skimage.color.rgb2gray(im) if channels == 3 else im[:, :, 0] for im in images]
    ref = np.stack([skimage.filters.sobel(g) for g in grey])
    assert ours.shape == (3, 9, 13) and ours.dtype == torch.float64
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-12, atol=1e-14)
    assert float(ours[0].abs().max()) == 0.0
    # float32 images agree to float32 rounding
    np.testing.assert_allclose(sobel_edge_map(x.float()).numpy(), ref, rtol=1e-5, atol=1e-6)


def test_sobel_edge_map_input_checks():
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3 \\(RGB\\) channels"):
        sobel_edge_map(torch.rand(1, 2, 4, 4))
    with pytest.raises(ValueError, match="4-D batch"):
        sobel_edge_map(torch.rand(3, 4, 4))
    with pytest.raises(TypeError, match="floating-point"):
        sobel_edge_map(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="NaN or inf"):
        sobel_edge_map(torch.full((1, 1, 4, 4), float("nan")))


def test_chance_abs_spearman_matches_the_normal_approximation():
    import math
    from scipy.stats import spearmanr
    mean16, hi16 = metrics.chance_abs_spearman(16, n_maps=16, pairs=2000, seed=0)
    # |rho| ~ |N(0, 1/(n-1))|: mean sqrt(2/pi)/sqrt(15) = 0.206
    assert abs(mean16 - math.sqrt(2 / math.pi) / math.sqrt(15)) < 0.01
    assert mean16 < hi16 < mean16 + 0.15          # the mean over 16 scenes scatters far less
    assert metrics.chance_abs_spearman(100)[0] < mean16 / 2   # more cells, lower chance level
    assert metrics.chance_abs_spearman(16, seed=3) == metrics.chance_abs_spearman(16, seed=3)
    # the closed form used inside agrees with scipy on one tie-free pair
    rng = np.random.default_rng(1)
    a, b = rng.permutation(16), rng.permutation(16)
    d2 = ((a - b) ** 2).sum()
    assert abs((1 - 6 * d2 / (16 * 255)) - spearmanr(a, b).statistic) < 1e-12
    with pytest.raises(ValueError, match="n_cells"):
        metrics.chance_abs_spearman(2)


def test_mask_parts_split_a_square_into_four_disjoint_parts():
    from course_utils.metrics import mask_parts
    masks = torch.zeros(1, 16, 16, dtype=torch.bool)
    masks[0, 4:12, 4:12] = True                       # a 4 x 4 block of cells on an 8 x 8 grid
    parts = mask_parts(masks, 8)
    assert list(parts) == ["interior", "object edge", "just outside", "rest"]
    stacked = torch.stack([p.int() for p in parts.values()])
    assert stacked.shape == (4, 1, 8, 8) and bool((stacked.sum(0) == 1).all())   # disjoint, cover
    assert int(parts["interior"].sum()) == 4          # the 2 x 2 centre of the 4 x 4 object
    assert int(parts["object edge"].sum()) == 16 - 4
    assert int(parts["just outside"].sum()) == 36 - 16   # the ring of cells around the object
    assert int(parts["rest"].sum()) == 64 - 36
    assert bool(parts["interior"][0, 3, 3]) and bool(parts["just outside"][0, 1, 1])
    # a cell is object when at least half of its 2 x 2 block is: one pixel is not, two are
    speck = torch.zeros(1, 16, 16, dtype=torch.bool)
    speck[0, 0, 0] = True
    assert not bool(mask_parts(speck, (8, 8))["object edge"].any())
    speck[0, 1, 0] = True
    assert bool(mask_parts(speck, (8, 8))["object edge"][0, 0, 0])
    with pytest.raises(ValueError, match="bool"):
        mask_parts(masks.float(), 8)


def test_activation_share_inside_matches_a_hand_computation_and_marks_silent_filters():
    import torch.nn.functional as F
    from torch import nn
    from course_utils import hooks
    from course_utils.metrics import activation_share_inside
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)).train()
    with torch.no_grad():
        net[0].bias[3] = -100.0                        # filter 3 is zero everywhere: silent
    x = torch.rand(5, 3, 8, 8)
    masks = torch.zeros(5, 8, 8, dtype=torch.bool)
    masks[:, 2:6, 1:5] = True
    shares, sizes = activation_share_inside(net, ["1", "2"], x, masks, batch=2)
    assert sizes == {"1": (8, 8), "2": (4, 4)} and net.training   # mode given back
    assert hooks.count_hooks(net) == 0
    with torch.no_grad():
        a = net[1](net[0](x))                          # (5, 4, 8, 8), the ReLU's output
    by_hand = (a * masks[:, None]).sum(dim=(2, 3)) / a.sum(dim=(2, 3))
    torch.testing.assert_close(shares["1"][:, :3], by_hand[:, :3])
    assert bool(torch.isnan(shares["1"][:, 3]).all()) and bool(torch.isnan(shares["2"][:, 3]).all())
    # at 4 x 4, each cell is credited with the share of its 2 x 2 block on the object
    pooled = F.max_pool2d(a, 2)
    w = F.avg_pool2d(masks[:, None].float(), 2)
    torch.testing.assert_close(shares["2"][:, :3], ((pooled * w).sum(dim=(2, 3)) / pooled.sum(dim=(2, 3)))[:, :3])
    with pytest.raises(ValueError, match="negative"):
        activation_share_inside(net, ["0"], x, masks)   # a convolution's signed output
    with pytest.raises(ValueError, match="5 images but 4 masks"):
        activation_share_inside(net, ["1"], x, masks[:4])
