"""Tests for course_utils.plot: numbers behind the figures, axes handling, no global style."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from course_utils import plot  # noqa: E402

JET = matplotlib.colormaps["jet"]


@pytest.fixture(autouse=True)
def rcparams_unchanged_and_figures_closed():
    before = dict(matplotlib.rcParams)
    yield
    plt.close("all")
    assert dict(matplotlib.rcParams) == before, "a plot function changed global rcParams"


def rgb(seed=0, h=2, w=2):
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed))


# --- to_numpy_image ------------------------------------------------------------------------

def test_to_numpy_image_layouts():
    t = rgb(h=4, w=5)
    out = plot.to_numpy_image(t)
    assert out.shape == (4, 5, 3) and out.dtype == np.float64
    np.testing.assert_allclose(out[1, 2], t[:, 1, 2].numpy())
    assert plot.to_numpy_image(t[None]).shape == (4, 5, 3)  # batch of one
    assert plot.to_numpy_image(t[:1]).shape == (4, 5)  # one channel -> (H, W)
    assert plot.to_numpy_image(torch.zeros(4, 5)).shape == (4, 5)
    assert plot.to_numpy_image(t.numpy()).shape == (4, 5, 3)  # CHW array
    hwc = np.full((4, 5, 3), 255, dtype=np.uint8)
    np.testing.assert_array_equal(plot.to_numpy_image(hwc), np.ones((4, 5, 3)))


def test_to_numpy_image_rejects_what_is_not_one_image():
    with pytest.raises(ValueError, match="C, H, W"):
        plot.to_numpy_image(torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match="not a batch"):
        plot.to_numpy_image(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="NaN"):
        plot.to_numpy_image(torch.full((3, 2, 2), float("nan")))
    with pytest.raises(TypeError):
        plot.to_numpy_image([[0.0]])


# --- show_image, show_heatmap, plot_overlay: the ax given is the one drawn on ---------------

def test_show_image_draws_on_the_given_axes():
    fig, ax = plt.subplots(figsize=(2, 2))
    assert plot.show_image(rgb(), ax=ax, title="photo") is ax
    assert len(ax.images) == 1 and ax.get_title() == "photo"
    assert ax.images[0].get_array().shape == (2, 2, 3)
    grey = plot.show_image(torch.zeros(1, 3, 3))
    assert grey.images[0].get_cmap().name == "gray"
    assert tuple(grey.figure.get_size_inches()) == plot.PANEL_SIZE


def test_show_image_refuses_a_normalised_colour_image():
    with pytest.raises(ValueError, match="undo the normalisation"):
        plot.show_image(rgb() * 4 - 2)


def test_show_heatmap_colour_bar_on_the_same_figure():
    fig, ax = plt.subplots(figsize=(3, 3))
    out = plot.show_heatmap(torch.rand(1, 1, 4, 4), ax=ax, vmin=0, vmax=1, title="saliency")
    assert out is ax and len(ax.images) == 1
    image = ax.images[0]
    assert image.get_cmap().name == "hot" and image.get_clim() == (0, 1)
    assert image.colorbar is not None and image.colorbar.ax.figure is fig
    assert len(fig.axes) == 2
    ax2 = plot.show_heatmap(np.ones((4, 4)), colorbar=False)
    assert len(ax2.figure.axes) == 1
    with pytest.raises(ValueError, match="2-D"):
        plot.show_heatmap(np.ones((2, 4, 4)))


def test_plot_overlay_draws_the_overlay():
    image, heat = rgb(), np.array([[0.0, 1.0], [0.5, 0.25]])
    fig, ax = plt.subplots(figsize=(2, 2))
    assert plot.plot_overlay(image, heat, ax=ax, title="CAM", heat_weight=0.4,
                             image_weight=0.6) is ax
    np.testing.assert_allclose(ax.images[0].get_array(),
                               plot.overlay_heatmap(image, heat, 0.4, 0.6))


# --- overlay_heatmap arithmetic -------------------------------------------------------------

def test_overlay_by_hand_on_a_2x2_example():
    image = np.array([[[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
                      [[0.2, 0.4, 0.6], [0.5, 0.5, 0.5]]])
    heat = np.array([[0.0, 1.0], [0.5, 0.25]])
    out = plot.overlay_heatmap(image, heat)  # CAM recipe: 0.3 * JET + 0.5 * image
    assert out.shape == (2, 2, 3) and out.dtype == np.float64
    # jet's ends are dark blue (0, 0, 0.5) and dark red (0.5, 0, 0).
    np.testing.assert_allclose(out[0, 0], [0.0, 0.0, 0.15])
    np.testing.assert_allclose(out[0, 1], [0.3 * 0.5 + 0.5, 0.5, 0.5])
    # The map is quantised as the sources do: uint8(255 * 0.5) = 127, uint8(63.75) = 63.
    np.testing.assert_allclose(out[1, 0], 0.3 * np.array(JET(127)[:3]) + 0.5 * image[1, 0])
    np.testing.assert_allclose(out[1, 1], 0.3 * np.array(JET(63)[:3]) + 0.5 * image[1, 1])


def test_overlay_vgg_recipe_divides_by_the_maximum():
    image = np.full((2, 2, 3), 0.5)
    heat = np.array([[0.0, 1.0], [0.5, 0.25]])
    out = plot.overlay_heatmap(image, heat, 1.0, 1.0, normalize_result=True)
    raw = np.stack([JET(int(v * 255))[:3] for v in heat.ravel()]).reshape(2, 2, 3) + image
    np.testing.assert_allclose(out, raw / raw.max())
    assert out.max() == 1.0


def test_overlay_takes_tensors_uint8_and_grey_images():
    heat = torch.tensor([[0.0, 1.0], [0.5, 0.25]])
    grey = torch.full((1, 2, 2), 0.5)
    out = plot.overlay_heatmap(grey, heat[None, None], 0.4, 0.6)  # CIFAR recipe
    np.testing.assert_allclose(out[0, 0], [0.3, 0.3, 0.5])  # 0.4 * (0, 0, 0.5) + 0.6 * 0.5
    as_uint8 = np.full((2, 2, 3), 255, dtype=np.uint8)
    np.testing.assert_allclose(plot.overlay_heatmap(as_uint8, heat, 0.0, 1.0), 1.0)


def test_overlay_resizes_the_heatmap_bilinearly():
    heat = np.array([[0.0, 1.0], [1.0, 0.0]])
    out = plot.overlay_heatmap(np.zeros((4, 4, 3)), heat, heat_weight=1.0)
    resized = F.interpolate(torch.tensor(heat)[None, None], size=(4, 4), mode="bilinear",
                            align_corners=False)[0, 0].numpy()
    expected = JET((resized * 255).astype(np.uint8))[..., :3]
    assert out.shape == (4, 4, 3)
    np.testing.assert_allclose(out, expected)


def test_overlay_validates_ranges_and_weights():
    image = np.zeros((2, 2, 3))
    with pytest.raises(ValueError, match="normalise it first"):
        plot.overlay_heatmap(image, np.array([[0.0, 1.5], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="non-negative"):
        plot.overlay_heatmap(image, np.zeros((2, 2)), heat_weight=-1)
    with pytest.raises(ValueError, match="the image"):
        plot.overlay_heatmap(image - 1, np.zeros((2, 2)))
    # Float noise just outside [0, 1] is accepted.
    plot.overlay_heatmap(image, np.array([[-1e-9, 1 + 1e-9], [0.0, 0.0]]))
    with pytest.warns(UserWarning, match="clipped"):
        out = plot.overlay_heatmap(np.ones((2, 2, 3)), np.ones((2, 2)), 1.0, 1.0)
    assert out.max() == 1.0


# --- image_grid ------------------------------------------------------------------------------

def test_image_grid_shape_and_placement():
    images = torch.arange(5, dtype=torch.float32).view(5, 1, 1, 1).expand(5, 1, 4, 4) / 4
    grid = plot.image_grid(images, nrow=4, padding=2)
    # 2 rows x 4 columns of 4x4 images with 2 pixels around each.
    assert grid.shape == (2 + 2 * 6, 2 + 4 * 6, 3)
    assert grid[2, 2 + 6, 0] == 0.25  # the second image, first row
    assert grid[2 + 6, 2, 1] == 1.0  # the fifth image, second row
    assert grid[0, 0, 0] == 0.0  # padding
    with pytest.raises(ValueError, match="B, C, H, W"):
        plot.image_grid(torch.zeros(3, 4, 4))


# --- activation grids ------------------------------------------------------------------------

def test_activation_grid_standardises_each_tile_by_hand():
    act = torch.tensor([[[0.0, 1.0], [2.0, 3.0]],     # mean 1.5, std sqrt(1.25)
                        [[7.0, 7.0], [7.0, 7.0]],     # constant -> 128
                        [[0.0, 0.0], [0.0, 10.0]]])   # mean 2.5, std sqrt(18.75)
    grid = plot.activation_grid(act, tiles_per_row=2)
    assert grid.dtype == np.uint8 and grid.shape == (4, 4)
    # (0 - 1.5) / 1.118 * 64 + 128 = 42.1 -> 42; 1 -> 99.4; 2 -> 156.6; 3 -> 213.9
    np.testing.assert_array_equal(grid[:2, :2], [[42, 99], [156, 213]])
    np.testing.assert_array_equal(grid[:2, 2:], 128)
    # (0 - 2.5) / 4.330 * 64 + 128 = 91.05; (10 - 2.5) / 4.330 * 64 + 128 = 238.85
    np.testing.assert_array_equal(grid[2:, :2], [[91, 91], [91, 238]])
    np.testing.assert_array_equal(grid[2:, 2:], 0)  # no fourth channel: left empty


def test_activation_grid_clips_and_keeps_all_channels():
    spike = torch.zeros(17, 4, 4)
    spike[:, 0, 0] = 1.0  # (1 - 1/16) / (sqrt(15) / 16) * 64 + 128 = 375.9 -> 255
    grid = plot.activation_grid(spike[None])  # a batch of one is accepted
    assert grid.shape == (2 * 4, 16 * 4)  # 17 channels need a second row
    assert grid[0, 0] == 255 and grid[4, 0] == 255 and grid.min() == 0
    with pytest.raises(ValueError, match="batch of 2"):
        plot.activation_grid(torch.zeros(2, 3, 4, 4))


def test_plot_activation_grid():
    act = torch.zeros(3, 2, 2)
    act[0] = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    fig, ax = plt.subplots(figsize=(4, 1))
    assert plot.plot_activation_grid(act, ax=ax, title="conv1", tiles_per_row=3) is ax
    np.testing.assert_array_equal(ax.images[0].get_array(), plot.activation_grid(act, 3))
    assert ax.images[0].get_clim() == (0, 255)
    assert ax.get_title() == "conv1" and "2 of 3 channels constant" in ax.get_xlabel()
    new = plot.plot_activation_grid(torch.rand(32, 3, 3))
    assert new.figure.get_size_inches()[0] == plot.GRID_WIDTH


def test_activation_tiles_keep_raw_values_with_nan_gaps():
    act = torch.arange(5 * 2 * 3, dtype=torch.float32).reshape(5, 2, 3)
    tiles = plot.activation_tiles(act, tiles_per_row=3, gap=1)
    # two rows of three 2 x 3 tiles, one pixel apart; the sixth place is empty
    assert tiles.shape == (2 * 3 - 1, 3 * 4 - 1) and tiles.dtype == np.float64
    np.testing.assert_array_equal(tiles[0:2, 0:3], act[0].numpy())
    np.testing.assert_array_equal(tiles[0:2, 4:7], act[1].numpy())
    np.testing.assert_array_equal(tiles[3:5, 4:7], act[4].numpy())
    assert np.isnan(tiles[2]).all() and np.isnan(tiles[:, 3]).all() and np.isnan(tiles[3:5, 8:11]).all()
    assert np.isfinite(tiles).sum() == act.numel()
    default = plot.activation_tiles(torch.zeros(2, 16, 16))   # gap h // 8 = 2
    assert default.shape == (16, 2 * 16 + 2)
    with pytest.raises(ValueError, match="gap"):
        plot.activation_tiles(act, gap=-1)
    with pytest.raises(ValueError, match="tiles_per_row"):
        plot.activation_tiles(act, tiles_per_row=0)


def test_plot_activation_tiles_zero_anchored_scale_counts_dead_channels():
    act = torch.zeros(3, 4, 4)
    act[0, 1, 2] = 2.0
    act[2] = 0.5
    fig, ax = plt.subplots(figsize=(4, 1))
    assert plot.plot_activation_tiles(act, ax=ax, title="relu", vmax=1.0) is ax
    assert ax.images[0].get_clim() == (0, 1.0)
    assert ax.get_title() == "relu" and "1 of 3 channels zero everywhere" in ax.get_xlabel()
    assert [t.get_text() for t in ax.texts] == ["0", "1", "2"]
    drawn = ax.images[0].get_array()
    np.testing.assert_array_equal(drawn.filled(np.nan)[:4, :4], act[0].numpy())
    # the default scale runs to the largest value; a dead tile is the bottom colour (black)
    ax2 = plot.plot_activation_tiles(act, numbers=False)
    assert ax2.images[0].get_clim() == (0, 2.0) and not ax2.texts
    assert tuple(ax2.images[0].cmap(0.0)[:3]) == pytest.approx((0.0, 0.0, 0.0), abs=0.02)
    with pytest.raises(ValueError, match="non-negative"):
        plot.plot_activation_tiles(-act - 1)
    with pytest.raises(ValueError, match="vmax"):
        plot.plot_activation_tiles(act, vmax=0.0)


def test_activation_tiles_label_space_leaves_empty_rows_above_each_row():
    act = torch.arange(5 * 2 * 3, dtype=torch.float32).reshape(5, 2, 3) + 1
    tiles = plot.activation_tiles(act, tiles_per_row=3, gap=1, label_space=2)
    # each row of tiles: 2 empty rows for labels, then the 2-pixel tiles, then the 1-pixel gap
    assert tiles.shape == (2 * (2 + 2 + 1) - 1, 3 * 4 - 1)
    assert np.isnan(tiles[0:2]).all() and np.isnan(tiles[4:7]).all()
    np.testing.assert_array_equal(tiles[2:4, 0:3], act[0].numpy())
    np.testing.assert_array_equal(tiles[7:9, 4:7], act[4].numpy())
    assert np.isfinite(tiles).sum() == act.numel()
    # label_space 0 is the old layout, value for value
    np.testing.assert_array_equal(plot.activation_tiles(act, tiles_per_row=3, gap=1, label_space=0),
                                  plot.activation_tiles(act, tiles_per_row=3, gap=1))
    with pytest.raises(ValueError, match="label_space"):
        plot.activation_tiles(act, label_space=-1)


def test_plot_activation_tiles_numbers_outside_are_black_and_above_their_tiles():
    act = torch.rand(20, 6, 6)
    act[3] = 0.0
    fig, ax = plt.subplots(figsize=(8, 2))
    plot.plot_activation_tiles(act, ax=ax, vmax=1.0, numbers="outside")
    assert [t.get_text() for t in ax.texts] == [str(k) for k in range(20)]
    assert all(t.get_color() == "black" for t in ax.texts)
    drawn = ax.images[0].get_array().filled(np.nan)
    space, gap = 2, 1                                 # ceil(6 / 3) label rows, gap 6 // 8 -> 1
    assert np.isnan(drawn[:space]).all()              # the label band holds no pixel of a tile
    np.testing.assert_array_equal(drawn[space:space + 6, :6], act[0].numpy())
    second_row = 6 + gap + space + space
    np.testing.assert_array_equal(drawn[second_row:second_row + 6, :6], act[16].numpy())
    for k in (0, 17):                                 # each label sits above its tile's top edge
        r, c = divmod(k, 16)
        x, y = ax.texts[k].get_position()
        top = r * (6 + gap + space) + space
        assert c * 7 <= x <= c * 7 + 5 and top - space - 0.5 < y < top - 0.5
        assert ax.texts[k].get_verticalalignment() == "bottom"
    assert "1 of 20 channels zero everywhere" in ax.get_xlabel()
    with pytest.raises(ValueError, match="numbers"):
        plot.plot_activation_tiles(act, numbers="above")
    plt.close("all")


def test_grid_figure():
    fig, axes = plot.grid_figure(10, 2)
    assert axes.shape == (10,) and tuple(fig.get_size_inches()) == (6.0, 15.0)
    fig, axes = plot.grid_figure(5, 2, panel_size=(2, 1))
    assert len(axes) == 5 and len(fig.axes) == 5
    assert tuple(fig.get_size_inches()) == (4.0, 3.0)


def test_no_function_changes_rcparams():
    before = dict(matplotlib.rcParams)
    image, heat = rgb(), np.full((2, 2), 0.5)
    plot.to_numpy_image(image)
    plot.show_image(image)
    plot.show_heatmap(heat)
    plot.overlay_heatmap(image, heat)
    plot.plot_overlay(image, heat)
    plot.image_grid(image[None])
    plot.activation_grid(image)
    plot.plot_activation_grid(image)
    plot.plot_activation_tiles(image)
    plot.grid_figure(3, 2)
    assert dict(matplotlib.rcParams) == before


def test_figure_data_rounds_to_the_digits_asked_for():
    a = np.array([0.12345, 0.5])
    assert plot.figure_data(a=a) == \
        "figure data | a: shape (2,), mean 0.312, std 0.188, min 0.123, max 0.5"
    assert plot.figure_data(digits=2, a=a) == \
        "figure data | a: shape (2,), mean 0.31, std 0.19, min 0.12, max 0.5"
    # float noise around 0 prints as 0, whatever the digits
    assert "min 0," in plot.figure_data(digits=2, a=np.array([1e-9, 1.0]))
    for bad in (0, 7, 2.0, True):
        with pytest.raises(ValueError, match="digits must be an int from 1 to 6"):
            plot.figure_data(digits=bad, a=a)


# --- lime_overlay / show_lime ------------------------------------------------------------------

def _lime_case():
    image = np.full((12, 8, 3), 0.5)
    image[..., 0] = 0.9                                   # a reddish image
    segments = np.repeat(np.arange(4), 24).reshape(12, 8)  # four bands of three rows
    mask = np.zeros((12, 8), dtype=int)
    mask[segments == 1], mask[segments == 2] = 1, -1
    return image, segments, mask


def test_lime_overlay_greys_undrawn_keeps_for_and_stripes_against():
    image, segments, mask = _lime_case()
    out = plot.lime_overlay(image, mask, segments, dim=0.5, stripe=8, level=0.5)
    grey = 0.299 * 0.9 + 0.587 * 0.5 + 0.114 * 0.5
    # bands 0 and 3 are not drawn: grey pulled towards mid-grey, no hue (away from the outlines)
    assert np.allclose(out[0], 0.5 + 0.5 * (grey - 0.5)) and np.allclose(out[11], out[0])
    # the default darkens the rest: a mid-grey pixel not drawn turns 0.35
    assert np.allclose(plot.lime_overlay(np.full_like(image, 0.5), mask, segments)[0], 0.35)
    # drawn bands are outlined: white inside their borders, black just outside
    assert all(np.allclose(out[r], 1.0) for r in (3, 5, 6, 8))
    assert np.allclose(out[2], 0.0) and np.allclose(out[9], 0.0)
    # band 1 (for) keeps its own colours inside
    assert np.allclose(out[4], image[4])
    # band 2 (against) carries white and black stripes, the rest of its pixels in colour
    row = out[7]
    assert (row == 1.0).all(axis=1).any() and (row == 0.0).all(axis=1).any()
    assert any(np.allclose(p, image[7, 0]) for p in row)
    assert out.dtype == np.float64 and out.min() >= 0 and out.max() <= 1


def test_lime_overlay_keeps_dark_support_visible_on_a_dark_image():
    # a black image: the drawn superpixel stays black, the rest turns mid-grey, not black
    image, segments, mask = _lime_case()
    out = plot.lime_overlay(np.zeros_like(image), mask, segments)
    assert np.allclose(out[0], 0.35 - 0.35 * 0.5) and np.allclose(out[4], 0.0)
    assert np.allclose(plot.lime_overlay(np.ones_like(image), mask, segments, dim=1.0,
                                         level=0.5)[0], 1.0)


def test_lime_overlay_hatches_thin_strokes_in_any_orientation():
    # a five-pixel-wide stroke drawn against the class, along either diagonal, a row or a
    # column: its centre line (inside the outline) must carry white and black hatching.
    # Stripes along one diagonal only would leave a stroke parallel to them unmarked.
    n = 40
    image = np.full((n, n, 3), 0.6)
    rows, cols = np.indices((n, n))
    for band, centre in ((np.abs(rows - cols) <= 2, rows == cols),
                         (np.abs(rows + cols - (n - 1)) <= 2, rows + cols == n - 1),
                         (np.abs(rows - n // 2) <= 2, rows == n // 2),
                         (np.abs(cols - n // 2) <= 2, cols == n // 2)):
        out = plot.lime_overlay(image, np.where(band, -1, 0), band.astype(int), stripe=8)
        inner = centre & (rows > 3) & (rows < n - 4) & (cols > 3) & (cols < n - 4)
        line = out[inner]
        hatched = (line == 1.0).all(axis=1) | (line == 0.0).all(axis=1)
        assert hatched.any() and not hatched.all(), "the hatching must cross the stroke"
        assert np.allclose(line[~hatched], 0.6), "the pixels between the hatching keep their colour"


def test_lime_overlay_does_not_modify_inputs_and_validates():
    image, segments, mask = _lime_case()
    copies = image.copy(), segments.copy(), mask.copy()
    plot.lime_overlay(image, mask, segments)
    assert all(np.array_equal(a, b) for a, b in zip((image, segments, mask), copies))
    with pytest.raises(ValueError, match="H x W x 3"):
        plot.lime_overlay(image[..., 0], mask, segments)
    with pytest.raises(ValueError, match="height and width"):
        plot.lime_overlay(image, mask[:4], segments)
    with pytest.raises(ValueError, match="1 \\(for\\)"):
        plot.lime_overlay(image, mask * 2, segments)
    with pytest.raises(ValueError, match="\\[0, 1\\]"):
        plot.lime_overlay(image * 2, mask, segments)
    with pytest.raises(ValueError, match="stripe"):
        plot.lime_overlay(image, mask, segments, stripe=2)


def test_show_lime_draws_one_contour_per_object():
    image, segments, mask = _lime_case()
    fig, ax = plt.subplots()
    objects = np.zeros((2, 12, 8), dtype=bool)
    objects[0, 2:4, 2:4] = objects[1, 5:7, 5:7] = True
    assert plot.show_lime(image, mask, segments, ax=ax, object_masks=objects, title="t") is ax
    assert len(ax.images) == 1 and ax.get_title() == "t"
    assert np.allclose(ax.images[0].get_array(), plot.lime_overlay(image, mask, segments))
    assert len(ax.collections) >= 2 or len(ax.lines) >= 2   # two contour sets
    contours = [c for c in ax.collections if c.get_path_effects()]
    assert len(contours) == 2, "each object outline carries a black edge (path effect)"
    assert contours[0].get_linestyle() != contours[1].get_linestyle()  # solid, then dashed


def test_plot_activation_stages_one_zero_anchored_panel_per_layer():
    act1 = torch.zeros(4, 8, 8)
    act1[0] = torch.arange(64, dtype=torch.float32).reshape(8, 8)
    act2 = torch.rand(8, 2, 2)
    fig = plot.plot_activation_stages({"stage 1: a": act1, "stage 2: b": act2}, seed_view="stage 1: a")
    axes = fig.axes
    assert len(axes) == 3
    assert "as seed 003 draws it" in axes[0].get_title()
    assert axes[1].get_title().startswith("stage 1: a, 4 channels of 8 x 8")
    # each panel's scale: 0 to that layer's 99th percentile
    assert axes[1].images[0].get_clim() == pytest.approx((0, float(np.quantile(act1.numpy().astype(np.float64), 0.99))))
    assert axes[2].images[0].get_clim() == pytest.approx((0, float(np.quantile(act2.numpy().astype(np.float64), 0.99))))
    # panel heights follow the grids' shapes
    ratios = axes[0].get_gridspec().get_height_ratios()
    assert ratios == pytest.approx([np.divide(*ax.images[0].get_array().shape) for ax in axes])
    plt.close(fig)
    fig = plot.plot_activation_stages({"silent": torch.zeros(2, 3, 3)})
    assert len(fig.axes) == 1 and fig.axes[0].images[0].get_clim() == (0, 1.0)
    plt.close(fig)
    with pytest.raises(ValueError, match="seed_view"):
        plot.plot_activation_stages({"a": act1}, seed_view="b")
    with pytest.raises(ValueError, match="empty"):
        plot.plot_activation_stages({})
