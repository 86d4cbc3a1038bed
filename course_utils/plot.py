"""Figures for the course: images, heatmaps, overlays and activation grids.

Every drawing function takes an optional ``ax`` and returns the axes it drew on; when no
``ax`` is given it opens a figure of an explicit size. Nothing here touches matplotlib's
global style (no ``rcParams``, no ``plt.style.use``). The array helpers
(:func:`to_numpy_image`, :func:`overlay_heatmap`, :func:`image_grid`,
:func:`activation_grid`) return numpy arrays, so a test can check the numbers behind a figure.
"""
from __future__ import annotations

import base64
import io
import math
import warnings
from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "to_numpy_image",
    "show_image",
    "show_heatmap",
    "overlay_heatmap",
    "plot_overlay",
    "lime_overlay",
    "show_lime",
    "image_grid",
    "activation_grid",
    "plot_activation_grid",
    "activation_tiles",
    "plot_activation_tiles",
    "plot_activation_stages",
    "grid_figure",
    "compact_figure",
    "use_compact_figures",
]

#: Size in inches of a figure opened for a single panel.
PANEL_SIZE = (4.0, 4.0)
#: Width in inches of a figure opened for an activation grid (its height follows the grid).
GRID_WIDTH = 12.0
# Values this far outside [0, 1] are float noise (from resizing, normalising) and clipped.
_TOL = 1e-6
_CHANNELS = (1, 3, 4)


def to_numpy_image(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Turn an image tensor or array into what ``imshow`` expects.

    Layout rules, fixed so that nothing is guessed from the values:

    * a ``torch.Tensor`` is channels-first, as PyTorch makes them: ``(C, H, W)`` or
      ``(1, C, H, W)`` (a batch of one), or ``(H, W)``;
    * a numpy array is ``(H, W)``, ``(H, W, C)`` when its last axis has 1, 3 or 4 entries
      (matplotlib, scikit-image, PIL), otherwise ``(C, H, W)`` when its first axis has.

    ``C`` must be 1, 3 or 4. Integer images (``uint8``) are divided by 255; values are not
    otherwise rescaled.

    Args:
        x: the image.

    Returns:
        A float64 array ``(H, W, C)`` for 3 or 4 channels, ``(H, W)`` for one.

    Raises:
        TypeError: not a tensor or array.
        ValueError: a shape that is not an image, or values that are NaN or infinite.
    """
    if isinstance(x, torch.Tensor):
        arr = x.detach().cpu().numpy()
        if arr.ndim == 4 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim == 3:
            if arr.shape[0] not in _CHANNELS:
                raise ValueError(f"a tensor image must be (C, H, W) with C in {_CHANNELS}, got "
                                 f"shape {tuple(x.shape)}; permute a channels-last tensor "
                                 "with x.permute(2, 0, 1).")
            arr = np.moveaxis(arr, 0, -1)
    elif isinstance(x, np.ndarray):
        arr = x
        if arr.ndim == 3 and arr.shape[-1] not in _CHANNELS:
            if arr.shape[0] not in _CHANNELS:
                raise ValueError(f"an array image must be (H, W, C) or (C, H, W) with C in "
                                 f"{_CHANNELS}, got shape {x.shape}.")
            arr = np.moveaxis(arr, 0, -1)
    else:
        raise TypeError(f"expected a torch.Tensor or numpy array, got {type(x).__name__}.")
    if arr.ndim not in (2, 3):
        raise ValueError(f"expected an image of shape (H, W) or with channels, got shape "
                         f"{tuple(x.shape)}; pass one image, not a batch.")
    if np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float64) / 255.0
    else:
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("the image holds NaN or infinite values.")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    return arr


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = PANEL_SIZE) -> Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize)
    return ax


def _unit_range(arr: np.ndarray, what: str, advice: str) -> np.ndarray:
    """Check values lie in [0, 1] up to float noise, and clip that noise."""
    low, high = float(arr.min()), float(arr.max())
    if low < -_TOL or high > 1 + _TOL:
        raise ValueError(f"{what} values must lie in [0, 1], got [{low:.4g}, {high:.4g}]; "
                         f"{advice}")
    return np.clip(arr, 0.0, 1.0)


def show_image(img: torch.Tensor | np.ndarray, ax: Axes | None = None, title: str | None = None,
               cmap: str | None = None) -> Axes:
    """Draw one image without axis ticks.

    Args:
        img: anything :func:`to_numpy_image` accepts; colour images must already be in
            [0, 1] (undo the ImageNet normalisation first).
        ax: axes to draw on; a new ``PANEL_SIZE`` figure when ``None``.
        title: axes title.
        cmap: colour map for one-channel images; ``"gray"`` when ``None``.

    Returns:
        The axes drawn on.
    """
    arr = to_numpy_image(img)
    ax = _new_axes(ax)
    if arr.ndim == 3:
        arr = _unit_range(arr, "colour image", "undo the normalisation (for example with "
                          "mean and std) or min-max scale the image before showing it.")
        ax.imshow(arr)
    else:
        ax.imshow(arr, cmap=cmap or "gray")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return ax


def _as_2d(m: torch.Tensor | np.ndarray, what: str) -> np.ndarray:
    arr = m.detach().cpu().numpy() if isinstance(m, torch.Tensor) else np.asarray(m)
    arr = np.squeeze(arr)  # (1, 1, H, W) and (1, H, W) maps, as the explain functions give
    if arr.ndim != 2:
        raise ValueError(f"{what} must be one 2-D map (H, W), got shape {np.shape(m)}.")
    if arr.size == 0:
        raise ValueError(f"{what} is empty (shape {np.shape(m)}).")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} holds NaN or infinite values.")
    return arr


def show_heatmap(m: torch.Tensor | np.ndarray, ax: Axes | None = None, title: str | None = None,
                 cmap: str = "hot", colorbar: bool = True, vmin: float | None = None,
                 vmax: float | None = None) -> Axes:
    """Draw a 2-D map (saliency, CAM, activation) with its colour bar.

    Args:
        m: the map, ``(H, W)`` (size-1 axes are squeezed away).
        ax: axes to draw on; a new ``PANEL_SIZE`` figure when ``None``.
        title: axes title.
        cmap: colour map (``"hot"`` as in the saliency lessons).
        colorbar: add a colour bar beside ``ax``, on ``ax``'s figure.
        vmin, vmax: value range of the colour map; the map's own range when ``None``.

    Returns:
        The axes drawn on (the colour bar is ``ax.images[0].colorbar``).
    """
    arr = _as_2d(m, "the heatmap")
    ax = _new_axes(ax)
    image = ax.imshow(arr, cmap=cmap, vmin=vmin, vmax=vmax)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return ax


def _resize(heat: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    t = torch.from_numpy(heat)[None, None]
    t = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
    return t[0, 0].numpy()


def overlay_heatmap(image: torch.Tensor | np.ndarray, heatmap: torch.Tensor | np.ndarray,
                    heat_weight: float = 0.3, image_weight: float = 0.5, cmap: str = "jet",
                    normalize_result: bool = False) -> np.ndarray:
    """Blend a coloured heatmap over an image, as the CAM and Grad-CAM lessons do.

    ``result = heat_weight * colormap(heatmap) + image_weight * image``, then, with
    ``normalize_result``, ``result / result.max()``. The heatmap is quantised to 256 levels
    the way the sources do (``uint8(255 * heatmap)``) and looked up in matplotlib's colour map
    (``matplotlib.colormaps[cmap]``). It is resized to the image with bilinear interpolation
    when the sizes differ.

    The sources' three recipes::

        # CAM on ResNet-18 (lesson 05, seed 000): JET x 0.3 + photo x 0.5
        overlay_heatmap(photo, cam, heat_weight=0.3, image_weight=0.5)
        # Grad-CAM on VGG-19 (lesson 06, seed 000): heat + photo, divided by the maximum
        overlay_heatmap(photo, cam, heat_weight=1.0, image_weight=1.0, normalize_result=True)
        # Grad-CAM on the CIFAR-10 CNN (lesson 06, seed 002): JET x 0.4 + image x 0.6
        overlay_heatmap(image, cam, heat_weight=0.4, image_weight=0.6)

    Seed 000 colours with OpenCV's ``COLORMAP_JET`` on BGR images; matplotlib's ``jet`` is
    close to it but not identical, and everything here stays RGB.

    Args:
        image: the picture, in [0, 1] (or ``uint8``), any layout :func:`to_numpy_image` takes;
            a grey image is repeated over three channels, an alpha channel dropped.
        heatmap: one 2-D map in [0, 1]; normalise it first (for example min-max).
        heat_weight: weight of the coloured heatmap.
        image_weight: weight of the image.
        cmap: name of a matplotlib colour map.
        normalize_result: divide the blend by its maximum (the VGG-19 recipe). Without it,
            values above 1 are clipped, with a warning.

    Returns:
        A float64 array ``(H, W, 3)`` in [0, 1], at the image's size.

    Raises:
        ValueError: heatmap outside [0, 1], not 2-D, negative weights, image outside [0, 1].
    """
    if not (np.isfinite(heat_weight) and np.isfinite(image_weight)):
        raise ValueError(f"weights must be finite numbers, got heat_weight={heat_weight}, "
                         f"image_weight={image_weight}")
    if heat_weight < 0 or image_weight < 0:
        raise ValueError(f"weights must be non-negative, got heat_weight={heat_weight}, "
                         f"image_weight={image_weight}.")
    img = to_numpy_image(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    img = _unit_range(img[..., :3], "the image", "undo the normalisation first.")
    heat = _unit_range(_as_2d(heatmap, "the heatmap"), "the heatmap",
                       "normalise it first, for example (h - h.min()) / (h.max() - h.min()).")
    if heat.shape != img.shape[:2]:
        heat = np.clip(_resize(heat, img.shape[:2]), 0.0, 1.0)
    colormap = matplotlib.colormaps[cmap]
    if colormap.N != 256:
        colormap = colormap.resampled(256)
    # Integer indices look entries up directly, as OpenCV and seed 002 do.
    coloured = colormap((heat * 255).astype(np.uint8))[..., :3]
    result = heat_weight * coloured + image_weight * img
    if normalize_result:
        top = result.max()
        if top > 0:
            result = result / top
    elif result.max() > 1 + _TOL:
        warnings.warn(f"the blend reaches {result.max():.3g} and is clipped to 1; lower the "
                      "weights or pass normalize_result=True.", stacklevel=2)
    return np.clip(result, 0.0, 1.0)


def plot_overlay(image: torch.Tensor | np.ndarray, heatmap: torch.Tensor | np.ndarray,
                 ax: Axes | None = None, title: str | None = None, **overlay_kw) -> Axes:
    """Draw :func:`overlay_heatmap` (same keyword arguments) on ``ax``.

    Returns:
        The axes drawn on.
    """
    blended = overlay_heatmap(image, heatmap, **overlay_kw)
    ax = _new_axes(ax)
    ax.imshow(blended)
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return ax


def lime_overlay(image_hwc: np.ndarray, mask: np.ndarray, segments: np.ndarray,
                 dim: float = 0.35, stripe: int = 8, level: float = 0.35) -> np.ndarray:
    """What LIME's ``get_image_and_mask`` marks, drawn so that it shows on any object colour.

    The ``lime`` package paints supporting superpixels by setting the green channel to the
    maximum, and a tint in any one colour vanishes on an object of that colour (the course's
    objects take any hue). This drawing uses no hue at all:

    * pixels not drawn (``mask == 0``) turn grey (their luminance), darkened and with their
      contrast cut: ``level + dim * (luminance - 0.5)``, so on a grey scene the superpixels kept
      in colour stand out brighter than the rest, and a dark region that is not drawn turns
      dark grey instead of black, so a drawn dark region stays visible beside it;
    * superpixels drawn **for** the class (``mask == 1``) keep their own colours;
    * superpixels drawn **against** it (``mask == -1``) keep their colours under black-and-white
      **cross-hatching** (white stripes along one diagonal, black along the other, period
      ``stripe`` pixels), which shows on a thin stroke in any orientation: a stroke parallel to
      one set of stripes crosses the other;
    * every drawn superpixel gets its own outline: white inside its border, black outside.

    Args:
        image_hwc: the image H x W x 3, float in [0, 1].
        mask: H x W, 1 / 0 / -1, as ``get_image_and_mask(positive_only=False)`` returns it.
        segments: H x W integer superpixel labels (each drawn superpixel is outlined on its own).
        dim: contrast of the pixels not drawn, in (0, 1] (1: their own grey).
        stripe: period of the hatching on the superpixels drawn against the class, >= 4.
        level: the grey that a mid-grey (0.5) pixel not drawn turns into, in [0, 1] (0.5: no
            darkening; the default 0.35 darkens the rest so that drawn superpixels stand out).

    Returns:
        A float64 array H x W x 3 in [0, 1].
    """
    from skimage.segmentation import find_boundaries

    image = np.asarray(image_hwc, dtype=np.float64)
    mask, segments = np.asarray(mask), np.asarray(segments)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"lime_overlay: image_hwc must be H x W x 3, got shape {image.shape}")
    if mask.shape != image.shape[:2] or segments.shape != image.shape[:2]:
        raise ValueError(f"lime_overlay: mask {mask.shape} and segments {segments.shape} must have "
                         f"the image's height and width {image.shape[:2]}")
    if not np.isin(mask, (-1, 0, 1)).all():
        raise ValueError("lime_overlay: mask holds 1 (for), -1 (against) and 0 (not drawn) only")
    if not 0 < dim <= 1 or isinstance(stripe, bool) or int(stripe) != stripe or stripe < 4:
        raise ValueError(f"lime_overlay: dim must be in (0, 1] and stripe an int >= 4, got "
                         f"dim={dim!r}, stripe={stripe!r}")
    if not 0 <= level <= 1:
        raise ValueError(f"lime_overlay: level must be in [0, 1], got {level!r}")
    image = _unit_range(image, "the image", "LIME's images are floats in [0, 1].")
    grey = image @ np.array([0.299, 0.587, 0.114])                      # ITU-R 601 luminance
    undrawn = np.clip(level + dim * (grey[..., None] - 0.5), 0.0, 1.0)
    out = np.where((mask == 0)[..., None], undrawn, image)
    rows, cols = np.indices(mask.shape)
    white = (rows + cols) % stripe < stripe // 4                        # white along one diagonal,
    black = ((rows - cols) % stripe >= stripe // 2) & ((rows - cols) % stripe < 3 * stripe // 4)
    against = mask == -1                                                # black along the other
    out[against & white] = 1.0
    out[against & black] = 0.0
    labels = np.where(mask != 0, np.asarray(segments, dtype=np.int64) + 1, 0)
    out[find_boundaries(labels, mode="outer", background=0)] = 0.0      # black outside ...
    out[find_boundaries(labels, mode="inner", background=0)] = 1.0      # ... white inside
    return out


def object_contour(ax: Axes, object_mask: np.ndarray, linestyle: str = "solid",
                   colour: str = "yellow", linewidth: float = 1.0):
    """Outline ``object_mask`` (H x W) on ``ax``: a ``colour`` line on a black edge twice as
    wide (the dashes of both in step), visible on an object of any colour, ``colour`` included.

    Returns:
        The ``ContourSet``.
    """
    from matplotlib import patheffects

    contour = ax.contour(np.asarray(object_mask).astype(float), levels=[0.5], colors=colour,
                         linewidths=linewidth, linestyles=linestyle)
    contour.set(path_effects=[patheffects.Stroke(linewidth=2.5 * linewidth, foreground="black"),
                              patheffects.Normal()])
    return contour


def show_lime(image_hwc: np.ndarray, mask: np.ndarray, segments: np.ndarray,
              ax: Axes | None = None, title: str | None = None,
              object_masks: Sequence[np.ndarray] | np.ndarray | None = None) -> Axes:
    """Draw :func:`lime_overlay` on ``ax``, with each object's mask as a yellow contour on a
    black edge, so that it shows on an object of any colour (the first solid, a second one
    dashed).

    Returns:
        The axes drawn on.
    """
    ax = _new_axes(ax)
    ax.imshow(lime_overlay(image_hwc, mask, segments))
    if object_masks is not None:
        objects = np.asarray(object_masks)
        for k, obj in enumerate(objects[None] if objects.ndim == 2 else objects):
            object_contour(ax, obj, linestyle="solid" if k == 0 else "dashed")
    ax.set_axis_off()
    if title is not None:
        ax.set_title(title)
    return ax


def image_grid(images: torch.Tensor | Sequence[torch.Tensor], nrow: int = 8, padding: int = 2,
               normalize: bool = False) -> np.ndarray:
    """Tile a batch of images with ``torchvision.utils.make_grid``.

    Args:
        images: a batch ``(B, C, H, W)`` or a list of ``(C, H, W)`` tensors of equal size.
        nrow: images per row.
        padding: pixels between images (black).
        normalize: min-max scale the whole batch into [0, 1] first.

    Returns:
        The grid as ``(H, W, 3)`` float64 (one-channel images come out as three equal
        channels, as ``make_grid`` makes them).
    """
    if isinstance(nrow, bool) or not isinstance(nrow, int) or nrow < 1:
        raise ValueError(f"nrow (images per row) must be an int >= 1, got {nrow!r}")
    if isinstance(images, torch.Tensor):
        if images.ndim != 4:
            raise ValueError(f"expected a batch (B, C, H, W), got shape {tuple(images.shape)}.")
    elif not images:
        raise ValueError("expected at least one image.")
    elif len({tuple(getattr(im, "shape", ())) for im in images}) > 1:
        raise ValueError("the images differ in size: "
                         f"{sorted({tuple(getattr(im, 'shape', ())) for im in images})}; resize "
                         "them to one size first (explain.upsample_map or F.interpolate)")
    grid = torchvision.utils.make_grid(images, nrow=nrow, padding=padding, normalize=normalize)
    return to_numpy_image(grid)


def _standardise_tile(channel: np.ndarray) -> np.ndarray:
    """Seed 003's display transform: (x - mean) / std * 64 + 128, clipped to 0-255."""
    if np.ptp(channel) == 0:
        # A constant channel (a dead ReLU, say) has std 0: show it mid-grey, its mean.
        return np.full(channel.shape, 128, dtype=np.uint8)
    tile = (channel - channel.mean()) / channel.std() * 64 + 128
    return np.clip(tile, 0, 255).astype(np.uint8)


def _activation_array(activation: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = (activation.detach().cpu().numpy() if isinstance(activation, torch.Tensor)
           else np.asarray(activation))
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            raise ValueError(f"expected the activation of one image (C, h, w), got a batch of "
                             f"{arr.shape[0]}; index one image, e.g. activation[0].")
        arr = arr[0]
    if arr.ndim != 3:
        raise ValueError(f"expected an activation (C, h, w), got shape {arr.shape}.")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("the activation holds NaN or infinite values.")
    return arr


def activation_grid(activation: torch.Tensor | np.ndarray, tiles_per_row: int = 16) -> np.ndarray:
    """Lay out every channel of one image's activation as a tile, as seed 003 does.

    Each tile is standardised on its own: ``clip((a - mean) / std * 64 + 128, 0, 255)`` as
    ``uint8``, so 128 is the channel's mean and each 64 grey levels one standard deviation. A
    constant channel (standard deviation 0: common after a ReLU) becomes a uniform tile of
    128 instead of a division by zero. Tiles follow channel order row by row with no gap; the
    last row is filled with 0 when the channel count is not a multiple of ``tiles_per_row``
    (the seed drops those channels instead).

    Args:
        activation: ``(C, h, w)``, or ``(1, C, h, w)``.
        tiles_per_row: tiles in each row of the grid (16 in the seed).

    Returns:
        A ``uint8`` array ``(rows * h, tiles_per_row * w)``, ``rows = ceil(C / tiles_per_row)``.
    """
    if tiles_per_row < 1:
        raise ValueError(f"tiles_per_row must be at least 1, got {tiles_per_row}.")
    arr = _activation_array(activation)
    channels, h, w = arr.shape
    rows = math.ceil(channels / tiles_per_row)
    grid = np.zeros((rows * h, tiles_per_row * w), dtype=np.uint8)
    for k in range(channels):
        r, c = divmod(k, tiles_per_row)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = _standardise_tile(arr[k])
    return grid


def plot_activation_grid(activation: torch.Tensor | np.ndarray, ax: Axes | None = None,
                         title: str | None = None, tiles_per_row: int = 16) -> Axes:
    """Draw :func:`activation_grid` with the seed's ``viridis`` colour map.

    The colour scale is fixed to 0-255, so the same colour means the same number of standard
    deviations in every grid. When some channels are constant, the x label says how many.

    Args:
        activation: ``(C, h, w)``, or ``(1, C, h, w)``.
        ax: axes to draw on; when ``None`` a figure ``GRID_WIDTH`` inches wide whose height
            follows the grid's shape.
        title: axes title (the seed uses the layer's name).
        tiles_per_row: tiles in each row.

    Returns:
        The axes drawn on.
    """
    arr = _activation_array(activation)
    grid = activation_grid(arr, tiles_per_row=tiles_per_row)
    if ax is None:
        height = GRID_WIDTH * grid.shape[0] / grid.shape[1]
        ax = _new_axes(None, figsize=(GRID_WIDTH, max(height, 1.0) + 0.6))
    ax.imshow(grid, cmap="viridis", vmin=0, vmax=255, aspect="auto", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    constant = int(sum(np.ptp(channel) == 0 for channel in arr))
    if constant:
        ax.set_xlabel(f"{constant} of {arr.shape[0]} channels constant (shown at 128)")
    if title is not None:
        ax.set_title(title)
    return ax


def activation_tiles(activation: torch.Tensor | np.ndarray, tiles_per_row: int = 16,
                     gap: int | None = None, label_space: int = 0) -> np.ndarray:
    """Every channel of one image's activation as a tile, raw values, with gaps between tiles.

    Unlike :func:`activation_grid` (seed 003's per-tile standardisation) nothing is rescaled:
    the tiles keep the layer's own values, so with a colour scale anchored at 0 a channel that
    is zero everywhere (a dead ReLU) looks dead. The gaps, and the unused places of the last
    row, hold NaN (drawn in the axes' background colour).

    Args:
        activation: ``(C, h, w)``, or ``(1, C, h, w)``.
        tiles_per_row: tiles in each row.
        gap: pixels between tiles; by default ``max(1, h // 8)``.
        label_space: empty (NaN) pixel rows above each row of tiles, room for a label
            outside the tiles (:func:`plot_activation_tiles` with ``numbers="outside"``).

    Returns:
        A float64 array ``(rows * (h + gap + label_space) - gap, n * (w + gap) - gap)`` with
        ``n = min(C, tiles_per_row)``; tile ``k`` starts at row
        ``(k // n) * (h + gap + label_space) + label_space`` and column ``(k % n) * (w + gap)``.
    """
    if tiles_per_row < 1:
        raise ValueError(f"tiles_per_row must be at least 1, got {tiles_per_row}.")
    arr = _activation_array(activation)
    channels, h, w = arr.shape
    gap = max(1, h // 8) if gap is None else int(gap)
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}.")
    if label_space < 0:
        raise ValueError(f"label_space must be >= 0, got {label_space}.")
    n = min(channels, tiles_per_row)
    rows = math.ceil(channels / n)
    step = h + gap + label_space
    grid = np.full((rows * step - gap, n * (w + gap) - gap), np.nan)
    for k in range(channels):
        r, c = divmod(k, n)
        top = r * step + label_space
        grid[top:top + h, c * (w + gap):c * (w + gap) + w] = arr[k]
    return grid


def plot_activation_tiles(activation: torch.Tensor | np.ndarray, ax: Axes | None = None,
                          title: str | None = None, tiles_per_row: int = 16,
                          vmax: float | None = None, cmap: str = "inferno",
                          numbers: bool | str = True) -> Axes:
    """Draw :func:`activation_tiles` on one colour scale from 0 to ``vmax``, channel numbers on.

    One scale for every tile of the layer, anchored at 0 (black in ``inferno``): a dead channel
    is a black tile, and a weak channel looks weak. Values above ``vmax`` are drawn in the top
    colour. The x label counts the channels that are zero everywhere.

    Args:
        activation: ``(C, h, w)``, or ``(1, C, h, w)``; a ReLU's output (values >= 0).
        ax: axes to draw on; when ``None`` a figure ``GRID_WIDTH`` inches wide.
        title: axes title.
        tiles_per_row: tiles in each row.
        vmax: top of the colour scale; by default the largest value (1 if all are zero).
        cmap: a colour map whose lowest colour is black.
        numbers: write each channel's index: ``True`` (or ``"inside"``) in cyan in its tile's
            top-left corner; ``"outside"`` in black above the tile, in an empty band
            (``label_space`` of :func:`activation_tiles`, a third of a tile's height), so no
            pixel of the tile is hidden; ``False`` for none.

    Returns:
        The axes drawn on.
    """
    arr = _activation_array(activation)
    if (arr < 0).any():
        raise ValueError("expected non-negative activations (a ReLU's or a pooling's output); "
                         "for signed values use plot_activation_grid.")
    if numbers not in (True, False, "inside", "outside"):
        raise ValueError(f"numbers must be True, False, 'inside' or 'outside', got {numbers!r}.")
    channels, h, w = arr.shape
    gap = max(1, h // 8)
    space = max(2, math.ceil(h / 3)) if numbers == "outside" else 0
    tiles = activation_tiles(arr, tiles_per_row=tiles_per_row, gap=gap, label_space=space)
    if vmax is None:
        vmax = float(arr.max()) or 1.0
    if not vmax > 0:
        raise ValueError(f"vmax must be > 0, got {vmax}.")
    if ax is None:
        height = GRID_WIDTH * tiles.shape[0] / tiles.shape[1]
        ax = _new_axes(None, figsize=(GRID_WIDTH, max(height, 1.0) + 0.6))
    colours = matplotlib.colormaps[cmap].with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(tiles), cmap=colours, vmin=0, vmax=vmax, aspect="equal",
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    n = min(channels, tiles_per_row)
    if numbers == "outside":
        for k in range(channels):
            r, c = divmod(k, n)
            ax.text(c * (w + gap) + (w - 1) / 2, r * (h + gap + space) + space - 0.6, str(k),
                    color="black", fontsize=7, ha="center", va="bottom")
    elif numbers:
        for k in range(channels):
            r, c = divmod(k, n)
            ax.text(c * (w + gap), r * (h + gap), str(k), color="cyan", fontsize=6,
                    ha="left", va="top")
    dead = int((arr.reshape(channels, -1).max(axis=1) == 0).sum())
    ax.set_xlabel(f"{dead} of {channels} channels zero everywhere (dead on this image)",
                  fontsize=8)
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax


def plot_activation_stages(activations: dict[str, torch.Tensor | np.ndarray],
                           seed_view: str | None = None, width: float = GRID_WIDTH) -> Figure:
    """Several layers' channels, one panel per layer stacked top to bottom, each on its own
    zero-anchored scale (:func:`plot_activation_tiles`, numbers above the tiles).

    Each panel's scale runs from 0 (black) to that layer's 99th percentile (computed in
    float64; larger values get the top colour), printed in its title. With ``seed_view`` the
    first panel draws that layer as seed 003 does (:func:`plot_activation_grid`, every tile
    standardised on its own). Panel heights follow each grid's shape, so tiles keep their
    aspect ratio.

    Args:
        activations: panel title -> one image's activation ``(C, h, w)``, values >= 0.
        seed_view: a key of ``activations`` to draw first in seed 003's view, or ``None``.
        width: figure width in inches.

    Returns:
        The figure (not shown).
    """
    if not activations:
        raise ValueError("activations is empty: give at least one layer")
    if seed_view is not None and seed_view not in activations:
        raise ValueError(f"seed_view {seed_view!r} is not one of {list(activations)}")
    arrays = {name: _activation_array(a) for name, a in activations.items()}
    names = ([seed_view] if seed_view is not None else []) + list(arrays)
    fig, axes = plt.subplots(len(names), 1, figsize=(width, 4), layout="constrained",
                             squeeze=False)
    axes = axes[:, 0]
    if seed_view is not None:
        plot_activation_grid(arrays[seed_view], ax=axes[0],
                             title=f"{seed_view} as seed 003 draws it: every tile standardised "
                                   "on its own")
    for ax, (name, a) in zip(axes[seed_view is not None:], arrays.items()):
        top = float(np.quantile(a.astype(np.float64), 0.99)) or 1.0
        plot_activation_tiles(a, ax=ax, vmax=top, numbers="outside",
                              title=f"{name}, {a.shape[0]} channels of {a.shape[1]} x {a.shape[2]}; "
                                    f"black = 0, brightest = the layer's 99th percentile ({top:.2f})")
    ratios = [np.divide(*ax.images[0].get_array().shape) for ax in axes]   # rows / columns
    axes[0].get_gridspec().set_height_ratios(ratios)
    fig.set_figheight(sum(width * r + 0.8 for r in ratios))
    return fig


def grid_figure(n: int, ncols: int,
                panel_size: tuple[float, float] = (3.0, 3.0)) -> tuple[Figure, np.ndarray]:
    """A figure with ``n`` panels in rows of ``ncols`` (lesson 02's 5 x 2 grid, ...).

    Args:
        n: number of panels.
        ncols: panels per row.
        panel_size: (width, height) of one panel in inches; the figure is
            ``(ncols * width, rows * height)``.

    Returns:
        ``(fig, axes)`` with ``axes`` a flat array of ``n`` axes (unused cells are removed).
    """
    if n < 1 or ncols < 1:
        raise ValueError(f"n and ncols must be at least 1, got n={n}, ncols={ncols}.")
    nrows = math.ceil(n / ncols)
    width, height = panel_size
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * width, nrows * height),
                             squeeze=False, layout="constrained")
    axes = axes.ravel()
    for extra in axes[n:]:
        fig.delaxes(extra)
    return fig, axes[:n]


def figure_data(*, digits: int = 3, **arrays) -> str:
    """Rounded statistics of the arrays behind a figure, one line per array, for printing.

    nbval compares text, not images: printing these lines under each figure lets the notebook
    tests catch a figure whose data changed (a saliency with its sign flipped, a CAM without its
    ReLU). ``digits`` significant digits (3 by default) must be digits the data holds on any CPU:
    data that depends on the order of near-equal values (rank correlations, deletion curves)
    takes ``digits=2``. ``make nbval-perturbed`` checks it.

    Example:
        >>> print(figure_data(saliency=torch.ones(2, 3)))
        figure data | saliency: shape (2, 3), mean 1, std 0, min 1, max 1
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or not 1 <= digits <= 6:
        raise ValueError(f"figure_data: digits must be an int from 1 to 6, got {digits!r}")
    if not arrays:
        raise ValueError("figure_data: give the figure's arrays by name, e.g. "
                         "figure_data(saliency=maps)")
    lines = []
    for name, value in arrays.items():
        a = value.detach().cpu().double().numpy() if isinstance(value, torch.Tensor) else np.asarray(value, dtype=float)
        if a.size == 0:
            raise ValueError(f"figure_data: {name} is empty")
        stats = dict(mean=a.mean(), std=a.std(), min=a.min(), max=a.max())
        # Rounding: `digits` significant digits, and tiny values (float noise around 0) print as 0.
        text = ", ".join(f"{k} {_round(v, digits):.{digits}g}" for k, v in stats.items())
        lines.append(f"figure data | {name}: shape {tuple(a.shape)}, {text}")
    return "\n".join(lines)


def _round(v: float, digits: int) -> float:
    return 0.0 if abs(v) < 1e-6 else float(f"{v:.{digits}g}")


# --------------------------------------------------------------------------- inline figures

#: A figure whose PNG is larger than this is sent as JPEG: photo-like panels (heatmaps over
#: photographs, activation maps) compress badly as PNG, and at JPEG_QUALITY the difference is
#: not visible on a screen. Line plots and diagrams stay PNG (sharp text, small files).
PNG_LIMIT_BYTES = 150 * 1024
#: The largest figure sent to a notebook: a larger JPEG is rendered again at a lower DPI (128 KiB
#: keeps a lesson with nine photo-like figures, such as 04, under the 1.5 MB notebook limit).
FIGURE_LIMIT_BYTES = 128 * 1024
JPEG_QUALITY = 85
#: The quality tried next, before the resolution is lowered.
JPEG_QUALITY_MIN = 72


def _render(fig: Figure, fmt: str, dpi: float, **kwargs) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", **kwargs)
    return buf.getvalue()


def compact_figure(fig: Figure) -> tuple[str, bytes]:
    """Encode a figure for a notebook: ``("png", bytes)`` or ``("jpeg", bytes)``.

    PNG when it fits :data:`PNG_LIMIT_BYTES`; otherwise the first JPEG under
    :data:`FIGURE_LIMIT_BYTES` of: quality :data:`JPEG_QUALITY`, then :data:`JPEG_QUALITY_MIN`
    at the figure's own DPI, then that quality at the DPI that brings it under the limit (never
    below 40). Committed notebooks stay small, and every
    refresh of the outputs adds little to the repository's history.
    """
    dpi = float(fig.dpi)
    png = _render(fig, "png", dpi)
    if len(png) <= PNG_LIMIT_BYTES:
        return "png", png
    # First a lower quality at full resolution (text stays its size), then fewer pixels.
    for quality in (JPEG_QUALITY, JPEG_QUALITY_MIN):
        jpeg = _render(fig, "jpeg", dpi, pil_kwargs={"quality": quality})
        if len(jpeg) <= FIGURE_LIMIT_BYTES:
            return "jpeg", jpeg
    while dpi > 40:
        # JPEG size grows about with the pixel count, i.e. with dpi squared; aim 5 % under.
        dpi = max(40.0, dpi * 0.95 * math.sqrt(FIGURE_LIMIT_BYTES / len(jpeg)))
        jpeg = _render(fig, "jpeg", dpi, pil_kwargs={"quality": JPEG_QUALITY_MIN})
        if len(jpeg) <= FIGURE_LIMIT_BYTES:
            break
    return "jpeg", jpeg


def use_compact_figures(shell=None) -> bool:
    """Show inline figures through :func:`compact_figure` in this IPython kernel.

    Called by ``config.setup()``; does nothing outside IPython (returns False then). Only the
    image sent to the notebook changes: the figure, its size and the text nbval compares do not.
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
    formatters = getattr(getattr(shell, "display_formatter", None), "formatters", None)
    if not formatters or "image/png" not in formatters or "image/jpeg" not in formatters:
        return False
    last: dict = {}

    def encoded(fig: Figure) -> tuple[str, bytes]:
        # IPython asks the PNG formatter, then the JPEG one, for the same figure: encode once.
        if last.get("fig") is not fig:
            last.update(fig=fig, out=compact_figure(fig))
        return last["out"]

    def formatter_for(kind: str):
        def format_figure(fig: Figure) -> str | None:
            got, data = encoded(fig)
            if kind == "jpeg":
                last.clear()
            return base64.b64encode(data).decode("ascii") if got == kind else None
        return format_figure

    formatters["image/png"].for_type(Figure, formatter_for("png"))
    formatters["image/jpeg"].for_type(Figure, formatter_for("jpeg"))
    return True
