"""Regularised class visualisation (lesson 02, section 6): gradient ascent on a raw class score.

The recipe of Simonyan et al. (2014) and cs231n's *NetworkVisualization*: maximise the raw class
score ``z_c(x)`` (the logit, not the softmax) minus an L2 penalty, with the later regularisers of
Yosinski et al. (2015) and the DeepDream code: random jitter before each step, a Gaussian blur
every few steps, and a clamp to the data's range. Each regulariser is switched off by its own
argument (``l2=0``, ``jitter=0``, ``blur_every=0``), so an ablation is one call per setting.
"""
from __future__ import annotations

import torch
from scipy.ndimage import gaussian_filter1d
from torch import nn

from ._core import check_count, check_real
from ._core import check_images as _check_images
from ._core import explaining as _explaining
from ._core import forward as _forward

__all__ = ["blur_image", "roughness", "faint_noise", "class_visualisation"]


def blur_image(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """A Gaussian blur of the last two axes (seed 004's ``blur_image``), as a new tensor.

    scipy's ``gaussian_filter1d`` along the rows, then the columns (mode ``reflect``), in the
    input's dtype; ``sigma`` in pixels (0 returns a copy).
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError("x must be a tensor (..., H, W)")
    sigma = check_real("sigma", sigma)
    if sigma == 0:
        return x.detach().clone()
    out = gaussian_filter1d(x.detach().cpu().numpy(), sigma, axis=-2)
    out = gaussian_filter1d(out, sigma, axis=-1)
    return torch.from_numpy(out).to(x.device)


def roughness(images: torch.Tensor) -> torch.Tensor:
    """Mean |difference| between vertically and horizontally neighbouring pixels, per image.

    0 for a flat image, 1 for a checkerboard of 0s and 1s. ``images``: (N, C, H, W).
    """
    _check_images(None, images, "images")
    dv = (images[..., 1:, :] - images[..., :-1, :]).abs().mean((1, 2, 3))
    dh = (images[..., 1:] - images[..., :-1]).abs().mean((1, 2, 3))
    return (dv + dh) / 2


def faint_noise(n: int, shape: tuple[int, ...] = (1, 28, 28), scale: float = 0.2, seed: int = 0,
                dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A seeded start: ``n`` images of uniform noise in [0, scale) (private generator)."""
    check_count("n", n)
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.rand(n, *shape, dtype=dtype, generator=gen)


def class_visualisation(model: nn.Module, x_init: torch.Tensor, classes: torch.Tensor, *,
                        steps: int = 300, lr: float = 0.05, l2: float = 0.02, jitter: int = 3,
                        blur_every: int = 10, sigma: float = 0.6, seed: int = 0,
                        log_every: int = 0) -> tuple[torch.Tensor, list[tuple[int, float]]]:
    """Images that maximise ``z_c(x) - l2 * ||x||^2``, one row per class in ``classes``.

    Each step: shift the whole batch by one random offset (dy, dx) in [-jitter, jitter]
    (``torch.roll``, a private generator seeded with ``seed``, so two calls with the same seed
    draw the same offsets), take the gradient of the objective for ``x`` alone, one Adam step
    (``lr``), then every ``blur_every`` steps a Gaussian blur (``sigma``) and always a clamp to
    [0, 1]. The rows do not interact (eval mode; Adam is per pixel), so a row's result does not
    depend on the other rows. The model comes back in its mode, its parameters unchanged.

    Args:
        model: a classifier returning logits (N, K).
        x_init: the start (N, C, H, W); not modified.
        classes: LongTensor (N,), the class of each row.
        steps, lr: Adam steps and learning rate.
        l2: weight of the L2 penalty (0: off).
        jitter: largest shift in pixels (0: off).
        blur_every: blur after every ``blur_every``-th step (0: off).
        sigma: the blur's standard deviation in pixels.
        seed: seed of the jitter's generator.
        log_every: record the mean objective over the rows after every ``log_every``-th step,
            measured after the blur and clamp, without jitter (0: no log).

    Returns:
        ``(images, log)``: the images (N, C, H, W) and a list of ``(step, mean objective)``.
    """
    _check_images(model, x_init, "x_init")
    classes = torch.as_tensor(classes)
    if classes.dtype != torch.long or classes.shape != (x_init.shape[0],):
        raise ValueError(f"classes must be a LongTensor of shape ({x_init.shape[0]},), one class "
                         f"per row of x_init, got {classes.dtype} {tuple(classes.shape)}")
    check_count("steps", steps, minimum=0)
    check_real("lr", lr)
    l2 = check_real("l2", l2)
    jitter = check_count("jitter", jitter, minimum=0)
    blur_every = check_count("blur_every", blur_every, minimum=0)
    sigma = check_real("sigma", sigma)
    check_count("log_every", log_every, minimum=0)
    rows = torch.arange(len(classes))
    gen = torch.Generator().manual_seed(seed)
    x = x_init.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    log: list[tuple[int, float]] = []

    def objective(images: torch.Tensor) -> torch.Tensor:
        score = model(images)[rows, classes].sum()          # raw logits z_c, not the softmax
        return score - l2 * (x ** 2).sum() if l2 else score

    with _explaining(model):
        if int(classes.max()) >= _forward(model, x).shape[1] or int(classes.min()) < 0:
            raise ValueError("classes holds a class the model does not have")
        for step in range(1, steps + 1):
            shift = torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist()
            seen = torch.roll(x, shifts=shift, dims=(-2, -1)) if jitter else x
            (x.grad,) = torch.autograd.grad(-objective(seen), x)   # ascend: descend -objective
            optimizer.step()
            with torch.no_grad():
                if blur_every and step % blur_every == 0:
                    x.copy_(blur_image(x, sigma))
                x.clamp_(0, 1)
                if log_every and step % log_every == 0:
                    log.append((step, objective(x).item() / len(rows)))
    return x.detach(), log
