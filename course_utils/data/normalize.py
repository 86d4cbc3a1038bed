"""ImageNet normalisation and its inverse, for the torchvision models and the plots."""
from __future__ import annotations

from typing import Sequence

import torch

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "imagenet_normalize", "denormalize"]

# The statistics torchvision's ImageNet weights were trained with (RGB order, [0, 1] scale).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _channel_stats(x: torch.Tensor, mean, std) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor image, got {type(x).__name__}")
    if not x.is_floating_point():
        # uint8 - mean would wrap around or truncate: silently wrong numbers.
        raise TypeError(f"expected a float image in [0, 1], got dtype {x.dtype}; convert a "
                        "uint8 image with x.float() / 255 first.")
    if x.ndim not in (3, 4) or x.shape[-3] != len(mean):
        raise ValueError(f"expected an image (C, H, W) or batch (B, C, H, W) with C={len(mean)}, "
                         f"got shape {tuple(x.shape)}")
    if len(std) != len(mean) or not all(isinstance(v, (int, float)) and 0 < v < float("inf")
                                         for v in std):
        raise ValueError(f"std must hold {len(mean)} finite numbers > 0 (one per channel), got "
                         f"{tuple(std)!r}")
    shape = (-1, 1, 1)
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return m, s


def imagenet_normalize(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                       std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """``(x - mean) / std`` per channel, for an image ``(3, H, W)`` or a batch ``(B, 3, H, W)``.

    ``x`` is in [0, 1] (as the datasets return); a new tensor is returned. Values above 3 are
    refused as a 0..255 image (noise on a [0, 1] image, SmoothGrad's say, stays far below).
    """
    m, s = _channel_stats(x, mean, std)
    if x.numel() and float(x.detach().amax()) > 3:
        raise ValueError(f"x reaches {float(x.detach().amax()):g}: imagenet_normalize expects "
                         "images in [0, 1]; divide a 0..255 image by 255 first")
    return (x - m) / s


def denormalize(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                std: Sequence[float] = IMAGENET_STD, clamp: bool = False) -> torch.Tensor:
    """Undo :func:`imagenet_normalize`: ``x * std + mean``.

    Args:
        clamp: clip the result to [0, 1] (for display; off by default so that the round trip
            is exact).
    """
    m, s = _channel_stats(x, mean, std)
    out = x * s + m
    return out.clamp(0, 1) if clamp else out
