"""How well does a heatmap point at the object? Scores against ground-truth masks.

The offline scene data set carries a mask of the object in every image, which lets the course
measure what the sources can only show: whether an explanation looks at the object.

Conventions: ``maps`` are float tensors (N, h, w) (any resolution; they are resized to the
masks' size, bilinearly, when it differs); ``masks`` are bool tensors (N, H, W) at the image's
size. Always report :func:`mask_share_baseline` beside a score: a map that ignores the image
already scores the object's share of the pixels.
"""
from __future__ import annotations

import warnings

import torch

from .explain import upsample_map

__all__ = ["pointing_game", "mask_energy", "mask_share_baseline"]


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


def pointing_game(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Pointing game (Zhang et al. 2016, "Top-down Neural Attention by Excitation Backprop").

    .. math:: \\mathrm{hit}_n = \\big[\\arg\\max_{ij} m_n(i, j) \\in \\mathrm{mask}_n\\big]

    A hit when the map's maximum falls inside the object's mask (no tolerance margin). With
    ties, the first maximum in row-major order counts; a constant map has no maximum worth
    the name, so it gets a warning.

    Args:
        maps: (N, h, w) float; resized bilinearly to the masks' size when it differs.
        masks: (N, H, W) bool.

    Returns:
        Bool tensor (N,).
    """
    maps = _maps_at_mask_size(maps, masks)
    flat = maps.flatten(1)
    constant = (flat.amax(1) == flat.amin(1))
    if bool(constant.any()):
        warnings.warn(f"pointing_game: the map of sample(s) {torch.nonzero(constant).flatten().tolist()} "
                      "is constant; its 'maximum' is just the first pixel.", UserWarning, stacklevel=2)
    idx = flat.argmax(dim=1)
    return masks.flatten(1).gather(1, idx[:, None].to(masks.device))[:, 0]


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
