"""How well does a heatmap point at the object? Scores against ground-truth masks.

The offline scene data set carries a mask of the object in every image, which lets the course
measure what the sources can only show: whether an explanation looks at the object.

Conventions: ``maps`` are float tensors (N, h, w) (any resolution; they are resized to the
masks' size, bilinearly, when it differs); ``masks`` are bool tensors (N, H, W) at the image's
size. Always report :func:`mask_share_baseline` beside a score: a map that ignores the image
already scores the object's share of the pixels.

:func:`deletion_insertion` needs no mask: it asks the model itself whether the pixels a map
ranks first are the ones its prediction depends on (lesson 08). :func:`sobel_edge_map` is a
baseline map that knows nothing of any model: an explanation that scores no better than the
image's edges says little about the model (Adebayo et al. 2018).
"""
from __future__ import annotations

import math
import warnings
from numbers import Real
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ._core import check_images as _check_images
from ._core import check_target as _check_target
from ._core import explaining as _explaining
from ._core import forward as _forward
from .explain import upsample_map
from .hooks import capture as _capture
from .hooks import eval_mode as _eval_mode

__all__ = ["pointing_game", "mask_energy", "mask_share_baseline", "deletion_insertion",
           "DeletionInsertion", "sobel_edge_map", "mask_parts", "activation_share_inside",
           "chance_abs_spearman"]


def _check_masks(masks: torch.Tensor) -> None:
    if not isinstance(masks, torch.Tensor) or masks.dim() != 3 or masks.dtype != torch.bool:
        got = (f"{tuple(masks.shape)} {masks.dtype}" if isinstance(masks, torch.Tensor)
               else type(masks).__name__)
        raise ValueError(f"masks must be a bool tensor (N, H, W), got {got}")


def _maps_at_mask_size(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    _check_masks(masks)
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3 or not maps.is_floating_point():
        raise ValueError("maps must be a float tensor (N, h, w)")
    if maps.shape[0] != masks.shape[0]:
        raise ValueError(f"{maps.shape[0]} maps but {masks.shape[0]} masks")
    finite = torch.isfinite(maps).flatten(1).all(1)
    if not bool(finite.all()):
        raise ValueError(f"maps of sample(s) {torch.nonzero(~finite).flatten().tolist()} "
                         "contain NaN or inf")
    maps = maps.detach()
    if maps.shape[1:] != masks.shape[1:]:
        maps = upsample_map(maps, tuple(masks.shape[1:]), mode="bilinear")
    return maps


# Relative to a map's range: ties for the pointing game's maximum (see pointing_game).
POINTING_TIE_RTOL = 1e-4


def pointing_game(maps: torch.Tensor, masks: torch.Tensor, tolerance: float = 0.0) -> torch.Tensor:
    """Pointing game (Zhang et al. 2016, "Top-down Neural Attention by Excitation Backprop").

    .. math:: T_n = \\{(i, j) : m_n(i, j) \\ge \\max m_n - r\\,(\\max m_n - \\min m_n)\\},
              \\qquad \\mathrm{hit}_n = \\frac{\\#\\{p \\in T_n :
              \\operatorname{dist}(p, \\mathrm{mask}_n) \\le \\text{tolerance}\\}}{\\# T_n}

    A hit when the map's maximum falls inside the object's mask (``tolerance=0``, the default)
    or within ``tolerance`` pixels of it (Euclidean distance to the nearest mask pixel, at the
    masks' resolution). Zhang et al. allow 15 pixels on PASCAL VOC and COCO photos at their
    own size; carried over to 128 x 128 scenes as if from 224 x 224 that is about 9 (a choice
    of scale, not the paper's). An empty mask is never hit.

    **Ties.** ``T_n`` holds every pixel within ``r = POINTING_TIE_RTOL`` (1e-4) of the map's
    range below its maximum: two peaks that differ only in the last bits swap places between
    CPU kernels (AVX2, AVX-512, scalar), so they must count alike. When ``T_n`` holds more than
    one pixel, the score is the **expected hit of a pointer that picks one of the tied maxima
    uniformly at random**: the share of them that lies in (or within ``tolerance`` of) the mask.
    The result therefore does not depend on the order in which the pixels are scanned
    (transposing the map and the mask gives the same score). Breaking ties by scan order
    instead (the first maximum in row-major order, as ``argmax`` does) gives a coarse map an
    artefactual score: an occlusion map is made of constant patches, and the top-left corner
    of its winning patch is rarely on the object even when the patch covers it. With this rule:

    - a single clear maximum scores exactly 0 or 1, as in the paper;
    - a winning patch scores the share of its pixels on the object;
    - a constant map (every pixel tied) scores the object's share of the image, i.e. exactly
      :func:`mask_share_baseline`, the random pointer's hit rate, with a warning (it has no
      maximum worth the name).

    The mean over a batch is the expected hit rate of the paper's pointing game with random
    tie-breaking.

    Args:
        maps: (N, h, w) float; resized bilinearly to the masks' size when it differs.
        masks: (N, H, W) bool.
        tolerance: pixels (>= 0).

    Returns:
        Float tensor (N,) in [0, 1] (the maps' dtype, float32 at least): 0 or 1 for a single
        maximum, the share of the tied maxima that hit otherwise.
    """
    if isinstance(tolerance, bool) or not isinstance(tolerance, Real) or \
            not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance is a distance in pixels, a finite number >= 0; got {tolerance!r}")
    maps = _maps_at_mask_size(maps, masks)
    flat = maps.flatten(1)
    constant = (flat.amax(1) == flat.amin(1))
    if bool(constant.any()):
        warnings.warn(f"pointing_game: the map of sample(s) {torch.nonzero(constant).flatten().tolist()} "
                      "is constant; every pixel ties for the maximum, so it scores the object's "
                      "share of the pixels (the random baseline).", UserWarning, stacklevel=2)
    top = flat.amax(1, keepdim=True)
    tied = flat >= top - POINTING_TIE_RTOL * (top - flat.amin(1, keepdim=True))
    target = masks.flatten(1).to(tied.device)
    if tolerance > 0:
        target = _within(masks, tolerance).flatten(1).to(tied.device)
    hits = (tied & target).sum(1)
    dtype = maps.dtype if maps.dtype in (torch.float32, torch.float64) else torch.float32
    return hits.to(dtype) / tied.sum(1).to(dtype)


def _within(masks: torch.Tensor, tolerance: float) -> torch.Tensor:
    """Pixels whose Euclidean distance to the nearest mask pixel is <= ``tolerance`` (N, H, W).

    An exact Euclidean distance transform (scipy's, a dependency of scikit-image); an empty
    mask has no pixel within any distance.
    """
    from scipy.ndimage import distance_transform_edt

    out = torch.zeros_like(masks, device="cpu")
    for n, mask in enumerate(masks.cpu().numpy()):
        if mask.any():
            # distance from every pixel to the nearest zero of ~mask, i.e. to the mask
            out[n] = torch.from_numpy(distance_transform_edt(~mask) <= tolerance)
    return out


def mask_energy(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of a non-negative map's total that lies inside the mask (energy-based pointing
    game, Wang et al. 2020, "Score-CAM").

    .. math:: E_n = \\frac{\\sum_{ij} m_n(i,j)\\,[\\,(i,j) \\in \\mathrm{mask}_n]}{\\sum_{ij} m_n(i,j)}

    Args:
        maps: (N, h, w) float, non-negative (apply a ReLU or ``abs`` first for signed maps);
            resized bilinearly to the masks' size when it differs (which keeps them
            non-negative).
        masks: (N, H, W) bool.

    Returns:
        Float tensor (N,) in [0, 1]; ``nan`` with a warning for a map that is zero everywhere
        (no energy to share out).
    """
    maps = _maps_at_mask_size(maps, masks)
    if bool((maps < 0).any()):
        raise ValueError("mask_energy needs non-negative maps; apply a ReLU or abs() first")
    total = maps.flatten(1).sum(1)
    inside = (maps * masks.to(maps.device, maps.dtype)).flatten(1).sum(1)
    zero = total == 0
    if bool(zero.any()):
        warnings.warn(f"mask_energy: the map of sample(s) {torch.nonzero(zero).flatten().tolist()} "
                      "is zero everywhere; its energy share is undefined (nan).", UserWarning,
                      stacklevel=2)
    return torch.where(zero, torch.full_like(total, float("nan")),
                       inside / torch.where(zero, torch.ones_like(total), total))


def mask_share_baseline(masks: torch.Tensor) -> torch.Tensor:
    """Share of the pixels inside each mask: what a uniform map scores on :func:`mask_energy`
    (and a random pointer's hit rate on :func:`pointing_game`).

    Returns:
        Float tensor (N,).
    """
    _check_masks(masks)
    return masks.flatten(1).float().mean(1)


def _grow(cells: torch.Tensor) -> torch.Tensor:
    """A bool mask (N, h, w) grown by one cell in all eight directions."""
    return F.max_pool2d(cells[:, None].float(), 3, stride=1, padding=1)[:, 0] > 0


def mask_parts(masks: torch.Tensor, size: int | tuple[int, int]) -> dict[str, torch.Tensor]:
    """Split each object mask, at an activation map's resolution, into four disjoint parts.

    A cell of the ``size`` grid is *object* when at least half of its block of pixels is
    (``F.interpolate(..., mode="area") >= 0.5``). The object splits into its ``"interior"``
    (object cells whose eight neighbours are all object) and its ``"object edge"`` (object cells
    touching the background); the background into the cells ``"just outside"`` the object (one
    of their eight neighbours is object) and the ``"rest"``. The image's border does not count
    as background.

    Args:
        masks: (N, H, W) bool.
        size: the grid, ``h`` or ``(h, w)``.

    Returns:
        A dict of four bool tensors (N, h, w), in the order above; every cell is in exactly one.
    """
    _check_masks(masks)
    size = (size, size) if isinstance(size, int) else tuple(size)
    obj = (F.interpolate(masks[:, None].float(), size=size, mode="area") >= 0.5)[:, 0]
    interior = obj & ~_grow(~obj)
    near = _grow(obj)
    return {"interior": interior, "object edge": obj & ~interior,
            "just outside": near & ~obj, "rest": ~near}


def activation_share_inside(model: nn.Module, layers: list[str], x: torch.Tensor,
                            masks: torch.Tensor, batch: int = 16
                            ) -> tuple[dict[str, torch.Tensor], dict[str, tuple[int, int]]]:
    """Share of each filter's activation that falls on the object, for every layer named.

    Each cell of a layer's map (N, K, h, w) is credited to its block of pixels softly: its
    weight is the share of that block on the object (``F.adaptive_avg_pool2d`` of the mask to
    h x w), and the share inside is ``sum(a * w) / sum(a)`` per image and filter. The model
    runs in eval mode under ``torch.no_grad()``, ``batch`` images at a time; hooks are removed.

    Args:
        model: the network; ``layers`` are dotted names of layers whose outputs are >= 0
            (ReLUs, poolings after them).
        layers: dotted layer names, e.g. ``["cnn.2", "cnn.15"]``.
        x: images (N, C, H, W).
        masks: (N, H, W) bool, the objects' masks at the images' size.
        batch: images per forward pass.

    Returns:
        ``(shares, sizes)``: per layer a float tensor (N, K) in [0, 1], ``nan`` where the filter
        is zero everywhere on that image; and each layer's map size ``(h, w)``.
    """
    _check_masks(masks)
    if x.shape[0] != masks.shape[0]:
        raise ValueError(f"{x.shape[0]} images but {masks.shape[0]} masks")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    out, sizes = {name: [] for name in layers}, {}
    with torch.no_grad(), _eval_mode(model):
        for xb, mb in zip(x.split(batch), masks.split(batch)):
            with _capture(model, layers) as cap:
                model(xb)
            for name in layers:
                act = cap.activations[name]                                  # (n, K, h, w)
                if bool((act < 0).any()):
                    raise ValueError(f"layer {name!r} has negative outputs; use a ReLU's output")
                sizes[name] = tuple(act.shape[-2:])
                w = F.adaptive_avg_pool2d(mb[:, None].to(act), act.shape[-2:])   # (n, 1, h, w)
                inside, total = (act * w).sum(dim=(2, 3)), act.sum(dim=(2, 3))
                out[name].append(torch.where(total > 0, inside / total.clamp_min(1e-12),
                                             torch.full_like(total, float("nan"))))
    return {name: torch.cat(v) for name, v in out.items()}, sizes


class DeletionInsertion(NamedTuple):
    """What :func:`deletion_insertion` returns (all on the CPU, float64 for the areas)."""
    fractions: torch.Tensor   # (steps + 1,): share of the pixels removed / inserted, 0 .. 1
    deletion: torch.Tensor    # (N, steps + 1): target probability as pixels are removed
    insertion: torch.Tensor   # (N, steps + 1): target probability as pixels are inserted
    deletion_auc: torch.Tensor   # (N,): trapezoid area under the deletion curve (lower: better)
    insertion_auc: torch.Tensor  # (N,): trapezoid area under the insertion curve (higher: better)


def _trapezoid(curves: torch.Tensor, fractions: torch.Tensor) -> torch.Tensor:
    dx = fractions[1:] - fractions[:-1]
    return ((curves[:, 1:] + curves[:, :-1]) / 2 * dx).sum(1)


def deletion_insertion(model: nn.Module, x: torch.Tensor, target, maps: torch.Tensor,
                       steps: int = 16, baseline: float | torch.Tensor = 0.0) -> DeletionInsertion:
    """Deletion and insertion curves (Petsiuk et al. 2018, RISE): does the model's confidence
    follow the map's ranking of the pixels? Samek et al. (2017) proposed the idea as region
    perturbation: 9 x 9 regions replaced by random values, scored by the mean drop of the class
    score (AOPC). This is Petsiuk et al.'s pixel-wise version, tracking the probability.

    The pixels of each image are sorted by decreasing map value (ties: row-major order, a
    stable sort). Step ``k`` = 0..``steps`` takes the first ``round(k HW / steps)`` of them:

    - **deletion**: those pixels (all channels) are set to ``baseline`` in ``x``;
    - **insertion**: they are copied from ``x`` into the all-``baseline`` image;

    and the target class's softmax probability is recorded. The areas under both curves over
    the share of pixels (0..1) come from the trapezoid rule:

    .. math:: \\mathrm{AUC} = \\sum_{k=0}^{s-1} \\frac{p_k + p_{k+1}}{2}\\,(f_{k+1} - f_k)

    A faithful map makes the deletion curve fall early (small area) and the insertion curve
    rise early (large area).

    Args:
        model: classifier returning logits (N, K).
        x: images (N, C, H, W).
        target: class per image (int for all, or length N).
        maps: (N, h, w) float; resized bilinearly to (H, W) when it differs. Only the order
            of the values matters (any monotone rescaling gives the same curves).
        steps: number of equal chunks of pixels.
        baseline: the value of a removed pixel: a number or a tensor broadcastable to one
            image (C, H, W).

    Returns:
        :class:`DeletionInsertion` ``(fractions, deletion, insertion, deletion_auc,
        insertion_auc)``.
    """
    _check_images(model, x)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    n, c, height, width = x.shape
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3 or not maps.is_floating_point():
        raise ValueError("maps must be a float tensor (N, h, w)")
    if maps.shape[0] != n:
        raise ValueError(f"{maps.shape[0]} maps but {n} images")
    if not bool(torch.isfinite(maps).all()):
        raise ValueError("maps contain NaN or inf")
    hw = height * width
    if steps > hw:
        raise ValueError(f"steps ({steps}) cannot exceed the number of pixels ({hw})")
    maps = maps.detach().to(x.device)
    if maps.shape[1:] != x.shape[2:]:
        maps = upsample_map(maps, (height, width), mode="bilinear")
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    if base.dim() > 3:
        raise ValueError("baseline must be a number or broadcastable to one image (C, H, W)")
    base = base.expand(c, height, width)
    if not bool(torch.isfinite(base).all()):
        raise ValueError(f"baseline must be finite, got {baseline!r}")
    counts = [round(k * hw / steps) for k in range(steps + 1)]
    order = torch.argsort(maps.reshape(n, hw), dim=1, descending=True, stable=True)
    # rank[n, pixel] = position of the pixel in the order; step k takes the pixels rank < count_k
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(hw, device=x.device).expand(n, hw).contiguous())
    deletion = torch.empty(n, steps + 1, dtype=torch.float64)
    insertion = torch.empty(n, steps + 1, dtype=torch.float64)
    with _explaining(model, grad=False):
        logits = _forward(model, x)
        t = _check_target(target, n, logits.shape[1], x.device)
        p_full = F.softmax(logits.double(), dim=1).gather(1, t[:, None])[:, 0].cpu()
        p_empty = F.softmax(_forward(model, base[None]).double(), dim=1)[0, t].cpu()
        for img in range(n):
            # Step 0 of deletion is x itself and its last step the all-baseline image (and the
            # other way round for insertion): only the steps in between need a forward pass.
            taken = torch.stack([(rank[img] < k).reshape(height, width) for k in counts[1:-1]]
                                ) if steps > 1 else torch.zeros(0, height, width, dtype=torch.bool,
                                                                device=x.device)
            m = taken[:, None].to(x.dtype)                                 # (s-1, 1, H, W)
            removed = x[img] * (1 - m) + base * m
            inserted = base * (1 - m) + x[img] * m
            between = torch.cat([removed, inserted])
            p = (F.softmax(_forward(model, between).double(), dim=1)[:, t[img]].cpu()
                 if len(between) else torch.empty(0, dtype=torch.float64))
            deletion[img, 0], deletion[img, -1] = p_full[img], p_empty[img]
            insertion[img, 0], insertion[img, -1] = p_empty[img], p_full[img]
            deletion[img, 1:-1], insertion[img, 1:-1] = p[:steps - 1], p[steps - 1:]
    fractions = torch.tensor(counts, dtype=torch.float64) / hw
    return DeletionInsertion(fractions, deletion, insertion,
                             _trapezoid(deletion, fractions), _trapezoid(insertion, fractions))


# scikit-image's rgb2gray (ITU-R BT.709 luma) and sobel's smoothing weights [1, 2, 1] / 4.
_GREY_WEIGHTS = (0.2125, 0.7154, 0.0721)


def sobel_edge_map(x: torch.Tensor) -> torch.Tensor:
    """Edge magnitude of each image: a model-independent baseline map (Adebayo et al. 2018,
    "Sanity Checks for Saliency Maps", Figure 1's Sobel edge detector).

    .. math:: g = \\text{grey}(x), \\qquad
              E = \\sqrt{\\tfrac{1}{2}\\big((S_x * g)^2 + (S_y * g)^2\\big)},\\qquad
              S_x = \\tfrac{1}{4}\\begin{pmatrix}1&0&-1\\\\2&0&-2\\\\1&0&-1\\end{pmatrix},
              \\; S_y = S_x^\\top

    exactly ``skimage.filters.sobel(skimage.color.rgb2gray(image))``: grey = 0.2125 R +
    0.7154 G + 0.0721 B (one-channel images are used as they are), border pixels repeated
    (scipy's ``mode="reflect"`` with a 3 x 3 kernel), and the root of the *mean* of the two
    squared derivatives. Computed in torch, on the images' device; nothing is normalised.
    A saliency method whose maps look like this one, or score as well on the masks, may be
    showing the image's edges rather than what the model uses.

    Args:
        x: images (N, C, H, W) with C = 1 or 3, float, finite.

    Returns:
        Tensor (N, H, W), non-negative, in the images' units (per pixel).
    """
    _check_images(None, x)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"x must have 1 (grey) or 3 (RGB) channels, got {x.shape[1]} "
                         f"(shape {tuple(x.shape)})")
    x = x.detach()
    if x.shape[1] == 3:
        grey = torch.einsum("c,nchw->nhw", torch.tensor(_GREY_WEIGHTS, dtype=x.dtype,
                                                        device=x.device), x)[:, None]
    else:
        grey = x
    padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
    smooth = torch.tensor([1.0, 2.0, 1.0], dtype=x.dtype, device=x.device) / 4
    edge = torch.tensor([1.0, 0.0, -1.0], dtype=x.dtype, device=x.device)
    kx = torch.outer(smooth, edge)[None, None]     # derivative along columns
    ky = torch.outer(edge, smooth)[None, None]     # along rows
    gx, gy = F.conv2d(padded, kx)[:, 0], F.conv2d(padded, ky)[:, 0]
    return ((gx * gx + gy * gy) / 2).sqrt()


def chance_abs_spearman(n_cells: int, n_maps: int = 1, pairs: int = 10_000,
                        seed: int = 0) -> tuple[float, float]:
    """Chance level of |Spearman rho| between two unrelated rankings of ``n_cells`` values.

    Under independence (no ties) Spearman's rho on n values has mean 0 and standard deviation
    1/sqrt(n - 1), so even unrelated small maps (a 4 x 4 CAM, 16 occlusion patches) give a
    sizeable |rho|. This draws ``pairs`` sets of ``n_maps`` pairs of independent random
    rankings from a seeded NumPy generator.

    Returns:
        (mean |rho| of one pair, 95th percentile of the mean |rho| over ``n_maps`` pairs):
        the second is the level a mean over ``n_maps`` scenes exceeds by chance in 5 % of draws.
    """
    import numpy as np
    for name, value, low in (("n_cells", n_cells, 3), ("n_maps", n_maps, 1), ("pairs", pairs, 20)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    rng = np.random.default_rng(seed)
    a = rng.random((pairs, n_maps, n_cells)).argsort(-1).argsort(-1)
    b = rng.random((pairs, n_maps, n_cells)).argsort(-1).argsort(-1)
    d2 = ((a - b) ** 2).sum(-1)
    rho = np.abs(1.0 - 6.0 * d2 / (n_cells * (n_cells ** 2 - 1)))
    return float(rho.mean()), float(np.quantile(rho.mean(-1), 0.95))


# ----------------------------------------------------------------------------------------------
# Where a map puts its mass (lesson 03): regions around a mask, a share table, a stride grid.
__all__ += ["dilate_masks", "region_shares", "share_table", "stride_phase_ratio"]


def dilate_masks(masks: torch.Tensor, radius: int) -> torch.Tensor:
    """Grow each bool mask (N, H, W) by ``radius`` pixels: a (2r + 1) x (2r + 1) square maximum
    filter (scipy's ``binary_dilation`` with a square structuring element, zeros outside the
    image). ``radius = 0`` returns a copy."""
    _check_masks(masks)
    if not isinstance(radius, int) or isinstance(radius, bool) or radius < 0:
        raise ValueError(f"radius must be an int >= 0, got {radius!r}")
    size = 2 * radius + 1
    grown = F.max_pool2d(masks[:, None].float(), size, stride=1, padding=radius)
    return grown[:, 0].bool()


def region_shares(maps: torch.Tensor, regions: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """:func:`mask_energy` of the same maps in each named region: ``{name: shares (N,)}``.

    For regions that split the image (e.g. the object, a band around it, the rest) the shares
    of each map add up to 1."""
    if not regions:
        raise ValueError("regions is empty: give at least one named bool mask (N, H, W)")
    return {name: mask_energy(maps, mask) for name, mask in regions.items()}


def share_table(maps: dict[str, torch.Tensor], regions: dict[str, torch.Tensor],
                name_width: int = 22) -> str:
    """A text table of where each map puts its mass: one row per map, one column per region,
    each entry the mean over the images of :func:`region_shares`. The first row, "share of
    the pixels", is what a map that ignores the image scores (:func:`mask_share_baseline`)."""
    if not maps:
        raise ValueError("maps is empty: give at least one named map (N, H, W)")
    widths = [max(len(r), 6) for r in regions]
    head = f"{'map':{name_width}s} | " + " | ".join(f"{r:>{w}s}" for r, w in zip(regions, widths))
    rows = {"share of the pixels": {r: mask_share_baseline(m) for r, m in regions.items()}}
    rows.update({name: region_shares(m, regions) for name, m in maps.items()})
    lines = [head]
    for name, shares in rows.items():
        lines.append(f"{name:{name_width}s} | " + " | ".join(
            f"{float(shares[r].double().mean()):{w}.3f}" for r, w in zip(regions, widths)))
    return "\n".join(lines)


def stride_phase_ratio(maps: torch.Tensor, stride: int = 4) -> torch.Tensor:
    """How uneven a map is over the positions modulo ``stride``: per map, the mean value at the
    most favoured phase (i mod stride, j mod stride) over that at the least favoured one.

    1.0 means no grid; a strided network's gradient often shows a pattern that repeats with its
    total stride (Odena, Dumoulin & Olah 2016, "Deconvolution and Checkerboard Artifacts").

    Args:
        maps: (N, H, W) float, non-negative, with H and W multiples of ``stride``.

    Returns:
        Float64 tensor (N,), >= 1 (inf where a phase has mean 0).
    """
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3 or not maps.is_floating_point():
        raise ValueError("maps must be a float tensor (N, H, W)")
    if not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be an int >= 1, got {stride!r}")
    n, h, w = maps.shape
    if h % stride or w % stride:
        raise ValueError(f"maps of {h} x {w} do not tile into {stride} x {stride} blocks")
    if bool((maps < 0).any()):
        raise ValueError("stride_phase_ratio needs non-negative maps; apply abs() first")
    tiles = maps.detach().double().reshape(n, h // stride, stride, w // stride, stride)
    by_phase = tiles.mean(dim=(1, 3)).flatten(1)                  # (N, stride * stride)
    return by_phase.amax(1) / by_phase.amin(1)
