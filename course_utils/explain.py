"""Explanation methods, one function per method, as the lessons define them.

Conventions shared by every function here (captum's and torch-cam's habits):

- Batch first: images are float tensors ``(N, C, H, W)``; maps come back as ``(N, H, W)`` or
  ``(N, h, w)`` detached tensors on the input's device.
- ``target`` is explicit: an ``int`` (the same class for every image) or a 1-D sequence or
  tensor with one class per image. It is checked against the batch size and the number of
  classes; it is never broadcast from a wrong length or truncated.
- Nothing is resized or normalised unless the function says so: :func:`upsample_map` and
  :func:`normalize_map` do that, separately, when you ask.
- The model is run in eval mode (each module's own ``training`` flag is restored), its
  parameters are frozen for the call (each ``requires_grad`` flag is restored), gradients
  come from :func:`torch.autograd.grad` (so ``param.grad`` is never touched) and every hook
  is removed, also when the model raises.

Lessons: 02 (class prototypes), 03 (saliency, SmoothGrad, Integrated Gradients), 04 (filter
activation and visualization), 05 (CAM), 06 (Grad-CAM), 07 (LIME), 08 (occlusion, Guided
Backprop and Guided Grad-CAM, as baselines and sanity checks for the others).
"""
from __future__ import annotations

import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from numbers import Integral
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._core import Target, check_count, check_real
from ._core import check_finite as _check_finite
from ._core import check_images as _check_images
from ._core import check_target as _check_target
from ._core import explaining as _explaining
from ._core import forward as _forward
from ._core import leaf as _leaf
from ._core import model_device as _model_device
from ._core import model_dtype as _model_dtype
from .hooks import capture, eval_mode
from .layers import get_layer

__all__ = [
    "saliency_sum_logits", "saliency_class_score", "saliency_loss", "smoothgrad",
    "guided_backprop", "integrated_gradients", "IntegratedGradients",
    "cam", "grad_cam", "guided_gradcam", "upsample_map", "normalize_map",
    "filter_activation", "filter_visualization", "class_prototypes",
    "lime_classifier_fn", "slic_segmenter", "explain_lime", "LimeResult", "occlusion", "predict",
]

# --------------------------------------------------------------------------- captures


def _well_conditioned(logits: torch.Tensor) -> torch.Tensor:
    """Logits in float64 for a softmax or cross-entropy near p = 1 (MPS has no float64)."""
    return logits if logits.device.type == "mps" else logits.double()


def _single_activation(cap, name: str) -> torch.Tensor:
    calls = cap.calls[name]
    if calls == 0:
        raise RuntimeError(f"layer {name!r} did not run during the forward pass, so nothing "
                           "was captured; pick a layer that the model's forward() uses.")
    if calls > 1:
        raise ValueError(f"layer {name!r} ran {calls} times in one forward pass (a shared "
                         "module); its activation is ambiguous, pick a layer that runs once.")
    act = cap.activations[name]
    if not isinstance(act, torch.Tensor):
        raise TypeError(f"layer {name!r} returned {type(act).__name__}, not a tensor")
    if cap.modified_in_place(name):
        warnings.warn(f"the output of layer {name!r} was modified in place after it was "
                      "captured (for example by a following ReLU(inplace=True)); the values "
                      "used are those of the modified tensor.", UserWarning, stacklevel=3)
    return act


def _check_feature_maps(act: torch.Tensor, name: str) -> None:
    if act.dim() != 4:
        raise ValueError(f"layer {name!r} outputs shape {tuple(act.shape)}; this method needs "
                         "4-D feature maps (N, K, h, w): pick a convolutional layer.")


class _StopForward(Exception):
    """Raised by a hook to end a forward pass once the layer of interest has run."""


@contextmanager
def _stop_after(module: nn.Module) -> Iterator[None]:
    def hook(mod, inputs, output):
        raise _StopForward
    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _forward_until(model: nn.Module, x: torch.Tensor) -> None:
    """Forward pass that ends (quietly) at the hooked layer: later layers cannot change it."""
    try:
        model(x)
    except _StopForward:
        pass


# --------------------------------------------------------------------------- gradients

def _input_gradient(model: nn.Module, x: torch.Tensor,
                    score_fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Gradient of ``score_fn(logits)`` with respect to the input: one forward, one backward.

    The model runs in eval mode with frozen parameters (both restored), on a fresh leaf copy of
    ``x``; ``torch.autograd.grad`` leaves every ``param.grad`` alone. A non-scalar score is
    differentiated as the sum of its entries (``grad_outputs`` of ones). Returns a detached
    tensor shaped like ``x``; the saliency methods differ only in ``score_fn``.
    """
    with _explaining(model):
        xg = _leaf(x)
        score = score_fn(_forward(model, xg))
        (grad,) = torch.autograd.grad(score, xg, grad_outputs=torch.ones_like(score))
    return grad.detach()


def _class_score(target: Target) -> Callable[[torch.Tensor], torch.Tensor]:
    """``logits -> sum over images of each image's target logit`` (target checked on use).

    Images are independent in eval mode, so d(sum of scores)/dx_n = d(score_n)/dx_n.
    """
    def score(logits: torch.Tensor) -> torch.Tensor:
        t = _check_target(target, logits.shape[0], logits.shape[1], logits.device)
        return logits.gather(1, t[:, None]).sum()
    return score


# --------------------------------------------------------------------------- saliency

def saliency_sum_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Squared gradient of the *sum of all logits* with respect to the input (seed 000).

    .. math:: S(x)_{ij} = \\sum_c \\Big(\\frac{\\partial \\sum_k z_k(x)}{\\partial x_{cij}}\\Big)^2

    This is what lesson 03's source does with ``logits.backward(torch.ones(...))``: the
    gradient of ``z_0 + ... + z_{K-1}``, the same map whatever the class, then squared. For
    C > 1 channels the squared gradients are **summed over channels** (for the source's
    one-channel MNIST images this is just the square).

    Args:
        model: classifier returning logits (N, K).
        x: images (N, C, H, W).

    Returns:
        Tensor (N, H, W), non-negative.
    """
    _check_images(model, x)
    grad = _input_gradient(model, x, lambda logits: logits)  # every logit, weight 1
    return grad.pow(2).sum(dim=1)


def saliency_class_score(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """Vanilla saliency of the target class score (Simonyan et al. 2014; cs231n, seed 004).

    .. math:: S(x)_{ij} = \\max_c \\Big|\\frac{\\partial z_{t}(x)}{\\partial x_{cij}}\\Big|

    where ``z_t`` is the unnormalised score (logit) of the target class of that image,
    gathered row by row. Absolute value, then maximum over the colour channels.

    Args:
        model: classifier returning logits (N, K).
        x: images (N, C, H, W).
        target: class per image (int for all, or length N).

    Returns:
        Tensor (N, H, W), non-negative.
    """
    _check_images(model, x)
    grad = _input_gradient(model, x, _class_score(target))
    return grad.abs().amax(dim=1)


def saliency_loss(model: nn.Module, x: torch.Tensor, target: Target,
                  normalize: bool = True) -> torch.Tensor:
    """Saliency of the cross-entropy loss, as the food-11 homework computes it (seed 001).

    .. math:: S(x) = \\operatorname{minmax}\\Big(\\Big|\\frac{\\partial L}{\\partial x}\\Big|\\Big),
              \\quad L = \\frac{1}{N}\\sum_n \\mathrm{CE}(z(x_n), t_n)

    The loss is the batch mean (``nn.CrossEntropyLoss()``'s default, as in the homework), so
    the raw gradients carry a factor 1/N; the per-image min-max normalisation removes it
    (and any other per-image scale). Each image's map is normalised on its own over all of
    its channels and pixels, as the homework does; a constant map becomes zeros with a
    warning (see :func:`normalize_map`).

    Args:
        model: classifier returning logits (N, K).
        x: images (N, C, H, W).
        target: class per image (int for all, or length N).
        normalize: min-max normalise each image's map to [0, 1].

    Returns:
        Tensor (N, C, H, W): one value per channel, because the homework shows the map as an
        RGB image (``permute(1, 2, 0)``). Take ``.amax(1)`` for a single-channel map.
    """
    _check_images(model, x)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be True or False, got {normalize!r}")

    def loss(logits: torch.Tensor) -> torch.Tensor:
        # Mean over the batch, as in the homework; in float64 because dL/dz = p - onehot: for a
        # confident model float32 keeps only a few digits of 1 - p_y (its spacing below 1 is
        # 6e-8), and the map would be partly rounding noise that differs between CPUs.
        return F.cross_entropy(_well_conditioned(logits),
                               _check_target(target, len(logits), logits.shape[1], logits.device))

    sal = _input_gradient(model, x, loss).abs()
    return normalize_map(sal) if normalize else sal


def smoothgrad(model: nn.Module, x: torch.Tensor, target: Target, n_samples: int = 25,
               noise_level: float = 0.15, seed: int = 0, magnitude: str = "abs") -> torch.Tensor:
    """SmoothGrad: the class-score gradient averaged over noisy copies (Smilkov et al. 2017).

    .. math:: g_s = \\frac{\\partial z_t}{\\partial x}\\big(x + \\varepsilon_s\\big),\\quad
              \\varepsilon_s \\sim \\mathcal N(0, \\sigma^2),\\;
              \\sigma = \\text{noise\\_level}\\cdot(\\max x - \\min x)

    .. math:: \\text{"abs"}:\\; M = \\max_c \\Big|\\frac{1}{n}\\sum_{s=1}^{n} g_s\\Big|,
              \\qquad \\text{"square"}:\\; M = \\max_c \\frac{1}{n}\\sum_{s=1}^{n} g_s^2

    ``sigma`` is computed per image (the paper's "noise level" is a fraction of the input's
    range). The two magnitudes average different things:

    - ``"abs"`` (default), ``|mean g|``: the *signed* gradients are averaged and only then the
      absolute value is taken, so a pixel whose gradient changes sign from one noisy copy to
      the next partly cancels. This is **not** what captum's ``NoiseTunnel(Saliency(model))``
      gives with its default ``abs=True``: there each sample's gradient is made absolute
      *before* averaging, ``mean |g|``, which is never smaller (triangle inequality) and is
      larger exactly where the signs disagree. ``NoiseTunnel(Saliency(model))`` with
      ``abs=False``, then ``.abs()``, is this map (before the max over channels).
    - ``"square"``, ``mean(g²)``: SmoothGrad-squared (Hooker et al. 2019, "A Benchmark for
      Interpretability Methods in Deep Neural Networks"; captum's ``nt_type="smoothgrad_sq"``,
      PAIR's ``saliency`` library): each sample's gradient is squared, then averaged. It equals
      ``(mean g)² + var(g)`` over the samples, so it is not the square of the ``"abs"`` map.

    Either way the maximum over the colour channels follows, as in
    :func:`saliency_class_score`.

    The noise comes from a private ``torch.Generator`` seeded with ``seed`` and drawn on the
    CPU in float64, so the same noise is drawn for a given seed on any device and CPU kind, and
    the global random state is left alone.

    Args:
        model: classifier returning logits (N, K).
        x: images (N, C, H, W).
        target: class per image (int for all, or length N).
        n_samples: number of noisy copies (paper: 50; 25 is usually enough).
        noise_level: noise standard deviation as a fraction of each image's value range.
        seed: seed of the noise.
        magnitude: ``"abs"`` (``|mean g|``) or ``"square"`` (``mean(g²)``, SmoothGrad-squared).

    Returns:
        Tensor (N, H, W), non-negative.
    """
    _check_images(model, x)
    if magnitude not in ("abs", "square"):
        raise ValueError(f"magnitude must be 'abs' or 'square', got {magnitude!r}")
    n_samples = check_count("n_samples", n_samples)
    noise_level = check_real("noise_level", noise_level)  # refuses NaN, inf and negatives
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise TypeError(f"seed must be an int, got {seed!r}")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    flat = x.detach().reshape(x.shape[0], -1)
    sigma = (noise_level * (flat.amax(1) - flat.amin(1))).reshape(-1, 1, 1, 1)
    score = _class_score(target)
    total = torch.zeros_like(x)
    for _ in range(n_samples):
        # Drawn in float64: float32 normal draws differ in the last bit between CPU kernels
        # (AVX2, AVX-512, scalar); float64 draws are the same on all of them.
        noise = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.device, x.dtype)
        grad = _input_gradient(model, x.detach() + sigma * noise, score)
        total += grad if magnitude == "abs" else grad.pow(2)
    mean = total / n_samples  # mean g ("abs") or mean g² ("square")
    mag = mean.abs() if magnitude == "abs" else mean
    return mag.amax(dim=1).detach()


# --------------------------------------------------------------------------- Guided Backprop

class _PositiveGradient(torch.autograd.Function):
    """Identity forward; backward lets only the positive part of the gradient through."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.clone()  # a new tensor: later in-place ops cannot reach the ReLU's saved output

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.clamp_min(0)


@contextmanager
def _guided_relus(model: nn.Module) -> Iterator[list[int]]:
    """Every ``nn.ReLU`` of ``model`` backpropagates only positive gradients inside the block.

    A forward hook passes each ReLU call's output through :class:`_PositiveGradient`, so the
    backward pass sees ``ReLU'(input) * clamp(grad, min=0)`` at every call: the ReLU's own
    backward supplies the mask ``[input > 0]`` (read from its output, which in-place ReLUs
    keep), the hook the ``clamp``. A module applied twice (ResNet's ``BasicBlock.relu``) is
    hooked at each call. Yields a one-element list counting the ReLU calls; hooks are removed
    in ``finally``.
    """
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise TypeError(f"{type(model).__name__} has no nn.ReLU module: Guided Backprop changes "
                        "the backward pass of each ReLU module, and a functional relu "
                        "(F.relu, torch.relu, x.clamp(min=0)) cannot be hooked. Use nn.ReLU "
                        "modules in the model.")
    calls = [0]

    def hook(module, inputs, output):
        calls[0] += 1
        return _PositiveGradient.apply(output)

    handles = []
    try:
        for relu in relus:
            handles.append(relu.register_forward_hook(hook))
        yield calls
    finally:
        for handle in handles:
            handle.remove()


def guided_backprop(model: nn.Module, x: torch.Tensor, target: Target) -> torch.Tensor:
    """Guided Backpropagation (Springenberg et al. 2015, "Striving for Simplicity: The All
    Convolutional Net").

    The gradient of the target logit with respect to the input, except that at every ReLU the
    backward pass lets through only **positive** gradients, and only where the forward input
    was positive:

    .. math:: R^{(l)} = [\\,a^{(l)} > 0\\,]\\cdot\\max\\big(R^{(l+1)}, 0\\big)

    (plain backprop keeps only the first factor, the "deconvnet" only the second). Every
    ``nn.ReLU`` module is modified through hooks, at each of its calls (in-place ReLUs and
    modules applied twice, as in torchvision's ResNet, included); the hooks are removed
    afterwards, and the model itself is not changed. A model with no ``nn.ReLU`` module, or
    whose ReLU modules never run (functional ``F.relu``), is refused: the result would be
    plain gradients under another name. Adebayo et al. (2018) found that Guided Backprop
    hardly changes when the model's weights are randomised (lesson 08).

    Args:
        model: classifier returning logits (N, K), with ``nn.ReLU`` modules.
        x: images (N, C, H, W).
        target: class per image (int for all, or length N).

    Returns:
        Tensor (N, C, H, W): the signed guided gradient, as captum's ``GuidedBackprop``
        returns it. ``.abs().amax(1)`` gives a map like :func:`saliency_class_score`'s; the
        paper shows the image-like gradient itself, min-max normalised.
    """
    _check_images(model, x)
    with _guided_relus(model) as calls:
        grad = _input_gradient(model, x, _class_score(target))
    if calls[0] == 0:
        raise TypeError(f"none of {type(model).__name__}'s nn.ReLU modules ran in forward() "
                        "(a functional relu?), so Guided Backprop would return plain gradients.")
    return grad


# --------------------------------------------------------------------------- Integrated Gradients

class IntegratedGradients(NamedTuple):
    """What :func:`integrated_gradients` returns."""
    attributions: torch.Tensor      # (N, C, H, W), signed
    gap: torch.Tensor               # (N,): sum of attributions - score_difference
    score_difference: torch.Tensor  # (N,): z_t(x) - z_t(baseline)


_IG_METHODS = ("riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle",
               "gausslegendre")


def _path_weights(method: str, steps: int) -> tuple[list[float], list[float]]:
    """Points ``alpha_k`` in [0, 1] and weights ``w_k`` of a quadrature of the integral over
    [0, 1] (the weights sum to 1)."""
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return list(0.5 * (nodes + 1)), list(0.5 * weights)
    if method == "riemann_trapezoid":
        if steps < 2:
            raise ValueError("riemann_trapezoid needs steps >= 2 (both ends of the path)")
        h = 1.0 / (steps - 1)
        return [k * h for k in range(steps)], [h / 2] + [h] * (steps - 2) + [h / 2]
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return [(k + offset) / steps for k in range(steps)], [1.0 / steps] * steps


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: Target,
                         baseline: float | torch.Tensor | None = None, steps: int = 50,
                         method: str = "riemann_trapezoid",
                         batch_size: int = 64) -> IntegratedGradients:
    """Integrated Gradients (Sundararajan et al. 2017, "Axiomatic Attribution for Deep
    Networks").

    .. math:: \\mathrm{IG}_i(x) = (x_i - x'_i)\\int_0^1
              \\frac{\\partial z_t}{\\partial x_i}\\big(x' + \\alpha (x - x')\\big)\\,d\\alpha
              \\approx (x_i - x'_i)\\sum_{k} w_k\\,
              \\frac{\\partial z_t}{\\partial x_i}\\big(x' + \\alpha_k (x - x')\\big)

    with ``x'`` the baseline and ``z_t`` the target logit. **Completeness**: the exact
    integral's attributions sum to ``z_t(x) - z_t(x')``; the returned ``gap`` is how far the
    quadrature is from that (``sum(IG) - (z_t(x) - z_t(x'))``, captum's convergence delta),
    and it shrinks as ``steps`` grows. Check it against ``score_difference``: a gap that is not
    small against it means too few steps.

    Quadrature (``alpha_k``, ``w_k``), the weights always summing to 1:

    - ``"riemann_trapezoid"`` (default): ``alpha_k = k/(n-1)``, k = 0..n-1, the trapezoid
      rule's weights ``1/(n-1)`` (half at both ends). captum's ``riemann_trapezoid`` uses the
      same points with weights ``1/n`` (half at both ends), which sum to ``(n-1)/n``: its
      attributions are ours times ``(n-1)/n``.
    - ``"riemann_left"``, ``"riemann_right"``, ``"riemann_middle"``: ``alpha_k = (k + o)/n``
      with o = 0, 1, 1/2 and weights ``1/n``, as in captum.
    - ``"gausslegendre"``: Gauss-Legendre nodes and weights mapped to [0, 1] (captum's default).

    Args:
        model: classifier returning logits (N, K).
        x: images (N, C, H, W).
        target: class per image (int for all, or length N).
        baseline: ``x'``: None (black, zeros), a number, or a tensor broadcastable to ``x``
            ((C, H, W) for one baseline for all images, or (N, C, H, W)).
        steps: number of points on the path (paper: 20 to 300).
        method: the quadrature, one of the above.
        batch_size: path points per forward pass (speed and memory only); at least one step,
            i.e. the N images of one point on each path, runs per pass.

    Returns:
        :class:`IntegratedGradients` ``(attributions (N, C, H, W), gap (N,),
        score_difference (N,))``.
    """
    _check_images(model, x)
    steps = check_count("steps", steps)
    batch_size = check_count("batch_size", batch_size)
    if method not in _IG_METHODS:
        raise ValueError(f"method must be one of {', '.join(_IG_METHODS)}; got {method!r}")
    base = _ig_baseline(baseline, x)
    alphas, weights = _path_weights(method, steps)
    n = x.shape[0]
    x, delta = x.detach(), x.detach() - base
    with _explaining(model, grad=False):  # both ends first: checks the target, cheaply
        ends = _forward(model, torch.cat([x, base]))
        t = _check_target(target, n, ends.shape[1], x.device)
        ends = ends.double().gather(1, torch.cat([t, t])[:, None])[:, 0]
        difference = ends[:n] - ends[n:]
    # The path points step by step (index k * N + n), as many steps per pass as batch_size fits.
    per_pass = max(1, batch_size // n)
    total = torch.zeros_like(x)
    for start in range(0, steps, per_pass):
        ks = range(start, min(start + per_pass, steps))
        points = torch.cat([base + alphas[k] * delta for k in ks])
        grads = _input_gradient(model, points, _class_score(t.repeat(len(ks))))
        w = torch.tensor([weights[k] for k in ks], dtype=x.dtype, device=x.device)
        total += (grads.reshape(len(ks), *x.shape) * w.reshape(-1, 1, 1, 1, 1)).sum(0)
    attributions = delta * total
    gap = attributions.double().flatten(1).sum(1) - difference
    return IntegratedGradients(attributions.detach(), gap, difference)


def _ig_baseline(baseline: float | torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """The baseline as a tensor of ``x``'s shape, dtype and device (checked finite)."""
    if baseline is None:
        return torch.zeros_like(x)
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    try:
        base = torch.broadcast_to(base, x.shape).contiguous()
    except RuntimeError as err:
        raise ValueError(f"baseline of shape {tuple(base.shape)} does not broadcast to x "
                         f"{tuple(x.shape)}; give a number, (C, H, W) or (N, C, H, W)") from err
    _check_finite(base, "baseline")
    return base


# --------------------------------------------------------------------------- CAM family

def _classifier_weight(fc: nn.Module, fc_name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Weight (K_classes, C) and bias of a Linear or 1x1 Conv2d classifier."""
    if isinstance(fc, nn.Linear):
        return fc.weight, fc.bias
    if isinstance(fc, nn.Conv2d) and fc.kernel_size == (1, 1) and fc.groups == 1:
        return fc.weight.flatten(1), fc.bias
    raise TypeError(f"fc_layer {fc_name!r} is a {type(fc).__name__}; CAM needs the final "
                    "nn.Linear (or 1x1 Conv2d) whose weight rows are the class weights.")


def cam(model: nn.Module, x: torch.Tensor, target: Target, feature_layer: str = "layer4",
        fc_layer: str = "fc", top_k: int | None = None, check_gap: bool = True) -> torch.Tensor:
    """Class activation map (Zhou et al. 2016, "Learning Deep Features for Discriminative
    Localization"; seed 000 on ResNet-18).

    .. math:: M_c(i, j) = \\sum_k w^c_k\\, f_k(i, j)

    where ``f_k`` are the feature maps of ``feature_layer`` and ``w^c`` is row ``c`` of the
    final linear layer's weight. This identity explains the logits only for networks of the
    form ``logits = fc(global_average_pool(f))`` (then ``z_c = mean_ij M_c(i, j) + b_c``);
    the bias, constant over space, is left out as in the paper.

    ``top_k`` keeps only the ``k`` channels with the **largest** weights for the class (the
    source keeps 20; ``None`` keeps all, which is the paper's CAM). No ReLU, no resizing, no
    normalisation: use :func:`upsample_map` and :func:`normalize_map` for those.

    Args:
        model: a GAP network (ResNet, a GAP CNN, ...).
        x: images (N, C, H, W).
        target: class per image (int for all, or length N).
        feature_layer: dotted name of the last convolutional block (``"layer4"``).
        fc_layer: dotted name of the final linear layer (``"fc"``).
        top_k: number of largest-weight channels to keep, or None for all.
        check_gap: verify that the model's logits equal ``fc(mean over space of f)``; with
            False the map is computed anyway (as the source does for DenseNet and SqueezeNet,
            where a ReLU sits between the features and the pooling): it is then only an
            approximation, not the quantity CAM's identity is about.

    Returns:
        Tensor (N, h, w) at the feature maps' resolution.

    Raises:
        ValueError: the fc's input size differs from the channel count, or the model does
            not pool ``feature_layer`` globally before ``fc_layer`` (with ``check_gap``).
    """
    _check_images(model, x)
    feat_module = get_layer(model, feature_layer)
    fc = get_layer(model, fc_layer)
    weight, bias = _classifier_weight(fc, fc_layer)
    t = _check_target(target, x.shape[0], weight.shape[0], x.device)
    with _explaining(model, grad=False), capture(model, feat_module) as cap:
        logits = _forward(model, x)
        feats = _single_activation(cap, cap.names[0])
        _check_feature_maps(feats, feature_layer)
        n_channels = feats.shape[1]
        if weight.shape[1] != n_channels:
            raise ValueError(f"{fc_layer!r} takes {weight.shape[1]} inputs but {feature_layer!r} "
                             f"has {n_channels} channels; CAM needs the fc to read the globally "
                             "pooled channels of that layer.")
        if check_gap:
            pooled = feats.mean(dim=(2, 3)) @ weight.T
            if bias is not None:
                pooled = pooled + bias
            scale = float(logits.abs().max().clamp_min(1.0))
            if not torch.allclose(pooled, logits, rtol=1e-3, atol=1e-4 * scale):
                raise ValueError(f"the model's logits are not {fc_layer}(global average pool of "
                                 f"{feature_layer!r}): CAM's identity does not hold for this "
                                 "model (a ReLU, dropout-like layer or extra layer in between?). "
                                 "Use grad_cam, or pass check_gap=False for the approximation.")
        w = weight[t]  # (N, K): each image's class weights
        if top_k is not None:
            if not 1 <= top_k <= n_channels:
                raise ValueError(f"top_k must be in 1..{n_channels}, got {top_k}")
            keep = torch.zeros_like(w).scatter_(1, w.topk(top_k, dim=1).indices, 1.0)
            w = w * keep
        maps = torch.einsum("nk,nkhw->nhw", w, feats)
    return maps.detach()


def grad_cam(model: nn.Module, x: torch.Tensor, target: Target | None = None, *,
             layer: str | nn.Module, relu: bool = True) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization"; seeds 000, 002, 003).

    .. math:: \\alpha^c_k = \\frac{1}{hw}\\sum_{i,j}\\frac{\\partial z_c}{\\partial A_k(i,j)},
              \\qquad M_c = \\mathrm{ReLU}\\Big(\\sum_k \\alpha^c_k A_k\\Big)

    ``A`` is the output of ``layer``, captured by a forward hook; the gradient is taken with
    ``torch.autograd.grad`` on that captured tensor, so the parameters' ``.grad`` stay
    untouched. For a GAP network with ``layer`` = the pooled features this equals
    ``ReLU(CAM) / (h w)``. No resizing, no normalisation.

    Args:
        model: classifier returning logits (N, K).
        x: images (N, C, H, W).
        target: class per image (int for all, or length N); None: each image's top class.
        layer: dotted name (``"features.35"``, ``"conv3"``) or module; keyword only.
        relu: apply the final ReLU (the paper's map); False shows the signed map.

    Returns:
        Tensor (N, h, w) at the layer's resolution.
    """
    _check_images(model, x)
    with _explaining(model), capture(model, layer) as cap:
        xg = _leaf(x)  # gives the graph a path to the activation even with frozen weights
        logits = _forward(model, xg)
        name = cap.names[0]
        acts = _single_activation(cap, name)
        _check_feature_maps(acts, name)
        score = _class_score(logits.argmax(dim=1) if target is None else target)(logits)
        (grads,) = torch.autograd.grad(score, acts, allow_unused=True)
        if grads is None:
            raise RuntimeError(f"the class scores do not depend on layer {name!r}")
        alpha = grads.mean(dim=(2, 3), keepdim=True)  # (N, K, 1, 1)
        maps = (alpha * acts).sum(dim=1)
    return (F.relu(maps) if relu else maps).detach()


def guided_gradcam(model: nn.Module, x: torch.Tensor, target: Target, *,
                   layer: str | nn.Module, mode: str = "bilinear") -> torch.Tensor:
    """Guided Grad-CAM (Selvaraju et al. 2017, section 3.1): Guided Backprop times Grad-CAM.

    .. math:: G_c(x) = \\mathrm{GB}_c(x) \\odot \\mathrm{up}\\big(M_c\\big)

    :func:`guided_backprop`'s signed (N, C, H, W) gradient, multiplied channel by channel by
    :func:`grad_cam`'s ReLU'd map upsampled to the input's size (:func:`upsample_map`). The
    paper upsamples bilinearly (the default); captum's ``GuidedGradCam`` uses nearest by
    default (its ``interpolate_mode="nearest"``), which ``mode="nearest"`` reproduces. The
    two runs are separate, so the Grad-CAM part sees ordinary gradients. Adebayo et al.
    (2018) found Guided Grad-CAM, like Guided Backprop, insensitive to randomised weights.

    Args:
        model: classifier returning logits (N, K), with ``nn.ReLU`` modules.
        x: images (N, C, H, W).
        target: class per image (int for all, or length N).
        layer: Grad-CAM's layer, dotted name or module (keyword only).
        mode: ``"bilinear"`` (the paper) or ``"nearest"`` (captum's default).

    Returns:
        Tensor (N, C, H, W), signed.
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"mode must be 'bilinear' (the paper) or 'nearest' (captum), got {mode!r}")
    guided = guided_backprop(model, x, target)
    coarse = grad_cam(model, x, target, layer=layer)
    return guided * upsample_map(coarse, tuple(x.shape[2:]), mode=mode)[:, None]


_UPSAMPLE_MODES = ("nearest", "nearest-exact", "bilinear", "bicubic", "area")


def upsample_map(m: torch.Tensor, size: int | tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize maps (N, h, w) to ``size`` = (H, W) (``align_corners=False``).

    Returns:
        Tensor (N, H, W).
    """
    if not isinstance(m, torch.Tensor) or m.dim() != 3:
        raise ValueError(f"maps must be a tensor (N, h, w), got "
                         f"{tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__}")
    if isinstance(size, Integral) and not isinstance(size, bool):
        size = (size, size)
    if not (isinstance(size, (tuple, list, torch.Size)) and len(size) == 2
            and all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in size)):
        raise ValueError(f"size must be a positive int or a pair (H, W) of them, got {size!r}")
    if mode not in _UPSAMPLE_MODES:
        raise ValueError(f"mode must be one of {', '.join(_UPSAMPLE_MODES)}, got {mode!r}")
    kwargs = {"align_corners": False} if mode in ("linear", "bilinear", "bicubic", "trilinear") else {}
    return F.interpolate(m[:, None].float() if not m.is_floating_point() else m[:, None],
                         size=tuple(size), mode=mode, **kwargs)[:, 0]


def normalize_map(m: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Min-max normalise each sample's map to [0, 1] on its own.

    .. math:: \\hat m = \\frac{m - \\min m}{\\max m - \\min m}

    taken over all of a sample's values (any shape ``(N, ...)``). A constant map has no
    contrast to show: it becomes zeros and a ``UserWarning`` names the samples concerned,
    instead of a silent division by (almost) zero. "Constant" is relative to the map's own
    scale: ``max - min <= eps * max|m|``, so a map whose values are all around 1e-13 (a tiny
    gradient, say) is still normalised, while an all-zero map is constant.

    Args:
        m: maps (N, ...), finite.
        eps: the relative range below which a map counts as constant.

    Returns:
        Tensor of the same shape, values in [0, 1].
    """
    if not isinstance(m, torch.Tensor) or m.dim() < 2:
        raise ValueError("maps must be a batch-first tensor (N, ...)")
    if m.numel() == 0:
        raise ValueError(f"maps is empty (shape {tuple(m.shape)}): nothing to normalise")
    eps = check_real("eps", eps)
    m = m.detach()
    _check_finite(m, "the map")
    flat = m.reshape(m.shape[0], -1)
    lo, hi = flat.amin(dim=1, keepdim=True), flat.amax(dim=1, keepdim=True)
    span = hi - lo
    scale = torch.maximum(hi.abs(), lo.abs())
    constant = (span <= eps * scale).flatten()
    if bool(constant.any()):
        idx = torch.nonzero(constant).flatten().tolist()
        # All-zero maps (the usual case) keep the short message the lessons print.
        rule = (f"max - min <= {eps:g}" if not bool(scale.flatten()[constant].any()) else
                f"max - min <= {eps:g} x its largest magnitude")
        warnings.warn(f"normalize_map: the map of sample(s) {idx} is constant "
                      f"({rule}); returning zeros for them.", UserWarning, stacklevel=2)
    out = (flat - lo) / torch.where(constant[:, None], torch.ones_like(span), span)
    out[constant] = 0.0
    return out.reshape(m.shape)


# --------------------------------------------------------------------------- filters

def _check_filter(acts: torch.Tensor, name: str, filter_index: int) -> None:
    _check_feature_maps(acts, name)
    n = acts.shape[1]
    if isinstance(filter_index, bool) or not isinstance(filter_index, Integral):
        raise TypeError(f"filter_index must be an int, got {filter_index!r}")
    if not 0 <= filter_index < n:
        raise IndexError(f"filter_index {filter_index} is out of range: layer {name!r} has "
                         f"{n} channels, valid indices are 0..{n - 1}")


def filter_activation(model: nn.Module, x: torch.Tensor, layer: str | nn.Module,
                      filter_index: int) -> torch.Tensor:
    """The activation map of one channel ("filter") of a layer (seed 001, lesson 04).

    .. math:: a(x) = A_k(x), \\text{ the } k\\text{-th channel of the layer's output}

    recorded by a forward hook; the forward pass stops at that layer since nothing after it
    can change the value.

    Args:
        model: the network.
        x: images (N, C, H, W).
        layer: dotted name (the seed uses ``"cnn.15"``) or module.
        filter_index: channel index (the seed uses 0).

    Returns:
        Tensor (N, h, w) at the layer's resolution.
    """
    _check_images(model, x)
    module = get_layer(model, layer)
    with _explaining(model, grad=False), capture(model, module) as cap, _stop_after(module):
        _forward_until(model, x)
        name = cap.names[0]
        acts = _single_activation(cap, name)
        _check_filter(acts, name, filter_index)
        out = acts[:, filter_index].clone()
    return out.detach()


def filter_visualization(model: nn.Module, x_init: torch.Tensor, layer: str | nn.Module,
                         filter_index: int, steps: int = 100,
                         lr: float = 0.1) -> tuple[torch.Tensor, list[float]]:
    """Find images that excite one filter most: gradient ascent on the input (seed 001).

    .. math:: x^* = \\arg\\max_x \\sum_{i,j} A_k(x)(i, j)

    Adam (``lr``) updates a copy of ``x_init`` for ``steps`` steps; the model's parameters are
    frozen and never updated. The seed starts from the images themselves (its comment says
    noise: pass ``torch.rand_like(x)`` for that). The hook is removed afterwards: a hook left
    behind would keep running, and piling up, on every later forward pass.

    Args:
        model: the network.
        x_init: starting images (N, C, H, W); not modified.
        layer: dotted name or module (the seed: ``"cnn.15"``).
        filter_index: channel to maximise (the seed: 0).
        steps: optimisation steps (seed: 100).
        lr: Adam learning rate (seed: 0.1).

    Returns:
        ``(images, history)``: the optimised images (N, C, H, W), unnormalised (min-max them
        with :func:`normalize_map` to show them), and the objective (sum of the filter's
        activation over the batch) at each step, measured before that step's update.
    """
    _check_images(model, x_init, "x_init")
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    _check_lr(lr)
    module = get_layer(model, layer)
    x = x_init.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=lr)
    history: list[float] = []
    with _explaining(model), capture(model, module) as cap, _stop_after(module):
        name = cap.names[0]
        for step in range(steps):
            cap.calls[name] = 0
            _forward_until(model, x)
            acts = _single_activation(cap, name)
            if step == 0:
                _check_filter(acts, name, filter_index)
            objective = acts[:, filter_index].sum()
            history.append(float(objective.detach()))
            # Maximise the objective = minimise its negative; only x receives a gradient.
            (x.grad,) = torch.autograd.grad(-objective, x)
            optimizer.step()
        if steps == 0:
            _forward_until(model, x)
            _check_filter(_single_activation(cap, name), name, filter_index)
    return x.detach(), history


def _check_lr(lr: float) -> None:
    """A learning rate: a finite number > 0 (Adam's own error only says 'Invalid')."""
    if check_real("lr", lr) == 0:
        raise ValueError("lr must be > 0, got 0 (the images would never change)")


# --------------------------------------------------------------------------- prototypes

def class_prototypes(model: nn.Module, mean_images: torch.Tensor, lam: float = 0.1,
                     steps: int = 10000, lr: float = 0.01, log_every: int = 500,
                     x_init: torch.Tensor | None = None) -> tuple[torch.Tensor, list[tuple[int, float]]]:
    """Class prototypes by activation maximisation with a mean-image prior (seed 000, lesson 02).

    .. math:: x^* = \\arg\\min_x\\; \\mathrm{CE}\\big(f(x), y\\big)
              + \\lambda\\,\\mathrm{MSE}\\big(x, \\bar x\\big), \\qquad y = (0, 1, \\dots, K-1)

    where ``x̄`` holds the mean training image of each class. As in the source: start from
    zeros (K, ...) (or ``x_init``), freeze the model, run Adam(``lr``) on ``x`` only.

    Args:
        model: classifier whose input has the shape of one row of ``mean_images``
            (``(K, 784)`` for the lesson's MNIST_DNN).
        mean_images: (K, ...) mean image of each class k = 0..K-1.
        lam: weight of the mean-image regulariser (source: 0.1); 0 switches it off.
        steps: Adam steps (source: 10,000).
        lr: learning rate (source: 0.01).
        log_every: record the loss at every step ``i`` with ``i % log_every == 0``, i.e. at
            steps 0, 500, ..., 9,500 for the defaults: exactly the losses the source prints
            (each measured before that step's update).
        x_init: starting point instead of zeros.

    Returns:
        ``(prototypes, log)``: the prototypes (K, ...) and a list of ``(step, loss)``.
    """
    if not isinstance(mean_images, torch.Tensor) or mean_images.dim() < 2:
        raise ValueError("mean_images must be a tensor (K, ...) with one mean image per class")
    if not mean_images.is_floating_point():
        raise TypeError(f"mean_images must be floating point, got {mean_images.dtype}")
    _check_finite(mean_images, "mean_images")
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {lam}")
    check_real("lam", lam)
    check_count("steps", steps, minimum=0)
    _check_lr(lr)
    if log_every < 1:
        raise ValueError(f"log_every must be >= 1, got {log_every}")
    k = mean_images.shape[0]
    if x_init is None:
        x = torch.zeros_like(mean_images)
    else:
        if not isinstance(x_init, torch.Tensor) or x_init.shape != mean_images.shape:
            raise ValueError(f"x_init must have the shape of mean_images {tuple(mean_images.shape)}")
        _check_finite(x_init, "x_init")
        x = x_init.detach().clone().to(mean_images.dtype)
    x.requires_grad_(True)
    means = mean_images.detach()
    y = torch.arange(k, device=mean_images.device)
    optimizer = torch.optim.Adam([x], lr=lr)
    log: list[tuple[int, float]] = []
    with _explaining(model):
        logits = _forward(model, x)
        if logits.shape[1] < k:
            raise ValueError(f"{k} mean images but the model has only {logits.shape[1]} classes")
        for step in range(steps):
            if step:
                logits = model(x)
            # Cross-entropy in float64: near p = 1, float32 cannot resolve 1 - p (its spacing
            # below 1 is 6e-8), so the plateau loss and the final prototype would be rounding
            # noise that differs between CPUs (AVX2 vs AVX-512). MPS has no float64.
            loss = F.cross_entropy(_well_conditioned(logits), y)
            if lam:
                loss = loss + lam * F.mse_loss(x, means)
            if step % log_every == 0:
                log.append((step, loss.item()))  # the only host sync: log steps only
            (x.grad,) = torch.autograd.grad(loss, x)
            optimizer.step()
    return x.detach(), log


# --------------------------------------------------------------------------- LIME

def lime_classifier_fn(model: nn.Module, device: torch.device | str | None = None,
                       batch_size: int = 64,
                       preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None
                       ) -> Callable[[np.ndarray], np.ndarray]:
    """The ``classifier_fn`` LIME needs: images N x H x W x C in, probabilities N x K out.

    LIME fits its local linear model to *probabilities*; the source's ``predict`` returned
    raw logits, which LIME accepts without complaint but explains the wrong quantity. This
    one applies the softmax.

    Args:
        model: classifier returning logits.
        device: where to run the model (default: where its parameters are).
        batch_size: images per forward pass.
        preprocess: optional function applied to each (B, C, H, W) float batch before the
            model (for example ImageNet normalisation).

    Returns:
        A function ``f(images) -> probabilities``: ``images`` is a NumPy array (N, H, W, C),
        float (used as it is) or uint8 (divided by 255, as ``ToTensor`` does); the result is
        a float64 array (N, K) whose rows sum to 1. It runs under ``torch.no_grad`` and in
        eval mode (flags restored after each call).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    try:
        dev = torch.device(device) if device is not None else _model_device(model)
    except RuntimeError:
        raise ValueError(f"device {device!r} is not a device; use 'cpu', 'cuda' or 'mps' (or leave "
                         "it out: the model's device)") from None
    dtype = _model_dtype(model)

    def classifier_fn(images: np.ndarray) -> np.ndarray:
        arr = np.asarray(images)
        if arr.ndim != 4:
            raise ValueError(f"expected images N x H x W x C, got shape {arr.shape}")
        scale = 255.0 if arr.dtype == np.uint8 else 1.0
        if scale == 1.0 and arr.size and float(np.nanmax(arr)) > 1.5:
            raise ValueError(f"float images must be in [0, 1]; these reach {float(np.nanmax(arr)):g} "
                             "(0..255?): divide by 255 or pass uint8")
        batch = torch.from_numpy(np.ascontiguousarray(arr)).to(dtype) / scale
        batch = batch.permute(0, 3, 1, 2)
        probs = []
        with torch.no_grad(), eval_mode(model):
            for chunk in batch.split(batch_size):
                chunk = chunk.to(dev)
                if preprocess is not None:
                    chunk = preprocess(chunk)
                probs.append(F.softmax(_forward(model, chunk).double(), dim=1).cpu())
        return torch.cat(probs).numpy()

    return classifier_fn


def slic_segmenter(n_segments: int = 100, compactness: float = 1, sigma: float = 1
                   ) -> Callable[[np.ndarray], np.ndarray]:
    """SLIC superpixels for LIME (``skimage.segmentation.slic``), as the homework uses them.

    Two details of the installed scikit-image matter: ``channel_axis=-1`` replaces the removed
    ``multichannel=True``, and ``start_label`` now defaults to 1 while LIME assumes
    superpixels numbered 0..n-1 (it switches superpixel ``z`` off with ``segments == z``).
    With labels starting at 1, one superpixel could never be switched off and "feature 0"
    would cover no pixel; so labels start at 0 here and are made contiguous.

    Returns:
        ``segment(image) -> labels``: image H x W x C (or H x W), labels H x W int, 0..n-1.
    """
    from skimage.segmentation import slic

    check_count("n_segments", n_segments)
    if check_real("compactness", compactness) == 0:
        raise ValueError("compactness must be > 0 (SLIC's balance of colour and space), got 0")
    check_real("sigma", sigma)

    def segment(image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        labels = slic(image, n_segments=n_segments, compactness=compactness, sigma=sigma,
                      start_label=0, channel_axis=-1 if image.ndim == 3 else None)
        _, contiguous = np.unique(labels, return_inverse=True)
        return contiguous.reshape(labels.shape)

    return segment


#: The source's display settings for ``get_image_and_mask`` (seed 001).
LIME_DISPLAY = {"num_features": 11, "positive_only": False, "hide_rest": False, "min_weight": 0.05}


@dataclass(frozen=True, eq=False)
class LimeResult:
    """What :func:`explain_lime` returns.

    Attributes:
        explanation: ``lime``'s own ``ImageExplanation`` (``local_exp``, ``intercept``,
            ``score``, ``local_pred``, ``segments``, ``get_image_and_mask``).
        label: the class explained.
        image, mask: ``explanation.get_image_and_mask(label, ...)`` with the source's settings
            (:data:`LIME_DISPLAY`: 11 superpixels, both signs, ``min_weight=0.05``); mask 1:
            supports the class, -1: speaks against it, 0: not drawn.

    ``weights`` and ``segments`` give the explanation as one weight per superpixel label and
    the H x W labels, so ``result.weights[result.segments]`` paints it as a map.
    :meth:`image_and_mask` draws it with other settings. For code written against the earlier
    return value, a result also unpacks as ``explanation, (image, mask), label``.
    """

    explanation: Any
    label: int
    image: np.ndarray
    mask: np.ndarray

    @property
    def segments(self) -> np.ndarray:
        return self.explanation.segments

    @property
    def weights(self) -> np.ndarray:
        """Float64 array, ``weights[k]`` = the linear model's weight of superpixel label ``k``."""
        size = max(int(self.segments.max()) + 1, len(self.explanation.local_exp[self.label]))
        w = np.zeros(size)
        for k, weight in self.explanation.local_exp[self.label]:
            w[k] = weight
        return w

    def image_and_mask(self, **settings: Any) -> tuple[np.ndarray, np.ndarray]:
        """``get_image_and_mask`` for this label, the source's settings updated by ``settings``
        (``num_features``, ``positive_only``, ``negative_only``, ``hide_rest``, ``min_weight``)."""
        return self.explanation.get_image_and_mask(self.label, **{**LIME_DISPLAY, **settings})

    def __iter__(self) -> Iterator[Any]:
        # the earlier return value: (explanation, (image, mask), label)
        return iter((self.explanation, (self.image, self.mask), self.label))


def _lime_modules():
    """``lime.lime_image`` and ``lime.lime_base``, imported without tqdm.auto's IProgress warning
    (lime imports tqdm.auto, which warns in a kernel without ipywidgets; no bar is shown here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        from lime import lime_base, lime_image
    return lime_image, lime_base


_BLAS: list = []  # threadpoolctl's controller, found once (it scans the loaded libraries)


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """NumPy's and SciPy's BLAS limited to one thread for the block (threadpoolctl, which
    scikit-learn installs), restored afterwards; a no-op where threadpoolctl is missing."""
    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController
            _BLAS.append(ThreadpoolController())
        except ImportError:  # pragma: no cover
            _BLAS.append(None)
    if _BLAS[0] is None:  # pragma: no cover
        yield
        return
    with _BLAS[0].limit(limits=1, user_api="blas"):
        yield


def _lime_image(image_hwc: Any) -> np.ndarray:
    """The image as LIME takes it: float64 H x W (grey) or H x W x 3 in [0, 1], checked."""
    if isinstance(image_hwc, torch.Tensor):
        image_hwc = image_hwc.detach().cpu().numpy()
    image = np.asarray(image_hwc)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] != 3:
        hint = (f" It looks channels-first (C x H x W): pass image.transpose(1, 2, 0) (NumPy) "
                f"or x.permute(1, 2, 0) (torch)." if image.shape[0] in (1, 3) else
                " LIME explains grey (H x W or H x W x 1) and RGB (H x W x 3) images.")
        raise ValueError(f"image_hwc must be H x W x C with 1 or 3 channels last, got shape "
                         f"{image.shape}.{hint}")
    if image.ndim not in (2, 3):
        hint = " Explain one image at a time (image_hwc[0])." if image.ndim == 4 else ""
        raise ValueError(f"image_hwc must be one image H x W x C or H x W, got shape "
                         f"{image.shape}.{hint}")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"image_hwc is empty (shape {image.shape})")
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"image_hwc must be float in [0, 1] or uint8, got {image.dtype}")
    image = image.astype(np.float64)
    if not np.isfinite(image).all():
        raise ValueError("image_hwc contains NaN or inf values")
    if image.min() < 0.0 or image.max() > 1.0:
        # A float image in 0..255 (or ImageNet-normalised) would be fed to the model as it is.
        raise ValueError(f"a float image_hwc must lie in [0, 1], got values in "
                         f"[{image.min():g}, {image.max():g}]. Divide a 0..255 image by 255 (or "
                         "pass it as uint8); pass normalisation as preprocess=..., not applied "
                         "to the image.")
    return image


def _switched_off_colours(rgb: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """LIME's ``fudged_image`` for ``hide_color=None``, to the last bit: every superpixel takes
    its own mean colour, each channel's mean taken by ``np.mean`` over that superpixel's pixels
    in raster order as ``explain_instance`` does (a stable sort finds them in one pass)."""
    flat_seg = segments.reshape(-1)
    flat = rgb.reshape(-1, rgb.shape[2])
    order = np.argsort(flat_seg, kind="stable")
    labels, starts = np.unique(flat_seg[order], return_index=True)
    fudged = rgb.copy()
    fudged_flat = fudged.reshape(-1, rgb.shape[2])
    for idx in np.split(order, starts[1:]):
        pixels = flat[idx]
        fudged_flat[idx] = [np.mean(pixels[:, c]) for c in range(rgb.shape[2])]
    return fudged


def explain_lime(model: nn.Module, image_hwc: np.ndarray, target: int | None = None, *,
                 num_samples: int = 1000, random_state: int = 16, n_segments: int | None = None,
                 segmentation_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                 batch_size: int = 64,
                 preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None) -> LimeResult:
    """LIME on one image (Ribeiro et al. 2016, "Why Should I Trust You?"; seed 001, lesson 07).

    LIME switches superpixels on and off, asks the model for class probabilities on
    ``num_samples`` such perturbed copies, and fits a weighted linear model whose coefficients
    say how much each superpixel supports the class.

    The result is **the explanation of the** ``lime`` **package** (0.2.0.1):
    ``LimeImageExplainer(random_state=random_state).explain_instance(image, classifier_fn,
    labels=(target,), top_labels=None, hide_color=None, segmentation_fn=...,
    random_seed=random_state)`` with :func:`lime_classifier_fn` as ``classifier_fn``. The
    explainer's generator draws the same on/off bits in the same order, and lime's own pieces
    fit them (``LimeBase.explain_instance_with_data`` with the explainer's kernel, its feature
    selection and ridge regression, into an ``ImageExplanation``). What differs is only the
    work around the model: the perturbed images of a batch are made at once in torch (the
    mean-coloured image where a superpixel is off, the image elsewhere) on the model's device,
    channels-last, instead of one sample at a time in NumPy; and no progress bar.

    ``random_state`` seeds the perturbations, so two calls give the same explanation, and each
    image's explanation is independent of any other. The source's global ``np.random.seed(16)``,
    set in its LIME cell just above the loop, makes that cell repeatable when it is rerun, but
    its four explainers share NumPy's global stream: the perturbations of image k depend on
    the draws of the images explained before it (how many superpixels they have, their
    ``num_samples``) and on any other global draw in between, so explaining one image alone,
    or changing the list or its order, changes the others' explanations.
    ``explain_instance(random_seed=...)``, which the source does not use, seeds only LIME's
    default segmentation, not the perturbations (lime issue #477).

    Args:
        model: classifier returning logits.
        image_hwc: one image H x W x 3 or H x W (or H x W x 1: grey), float in [0, 1] or uint8
            (divided by 255). LIME sees a grey image as RGB (its explanation's image is RGB);
            the model receives the single channel.
        target: class to explain; None: the model's top class on the image (as LIME's
            ``top_labels=1``).
        num_samples: perturbed copies, at least 2, the first being the image itself
            (source: 1000).
        random_state: seed of the explainer (source: 16).
        n_segments: SLIC superpixels asked for, with the source's compactness 1 and sigma 1
            (:func:`slic_segmenter`; default 100).
        segmentation_fn: ``segments = segmentation_fn(image)`` instead of SLIC: H x W integer
            labels 0..d-1 (LIME's bit k switches off the pixels labelled k). Not with
            ``n_segments``.
        batch_size: perturbed images per forward pass (only speed changes, and float32
            rounding in the last bits).
        preprocess: optional function on each (B, C, H, W) float batch before the model (for
            example ImageNet normalisation).

    Returns:
        A :class:`LimeResult`: ``explanation`` (lime's ``ImageExplanation``), ``label``,
        ``image`` and ``mask`` (``get_image_and_mask`` with the source's settings), ``weights``
        (one per superpixel), ``segments``; it unpacks as ``explanation, (image, mask), label``.
    """
    import sklearn.metrics

    lime_image, _ = _lime_modules()
    if isinstance(num_samples, bool) or not isinstance(num_samples, Integral) or num_samples < 2:
        raise ValueError(f"num_samples must be an int >= 2 (the first sample is the image itself, "
                         f"the linear model needs others; the source uses 1000), got {num_samples!r}")
    batch_size = check_count("batch_size", batch_size)
    if segmentation_fn is not None and n_segments is not None:
        raise ValueError("pass either n_segments (SLIC with compactness=1, sigma=1) or "
                         "segmentation_fn, not both; for other SLIC settings use "
                         "segmentation_fn=explain.slic_segmenter(n_segments, compactness, sigma)")
    if segmentation_fn is None:
        segmentation_fn = slic_segmenter(100 if n_segments is None else
                                         check_count("n_segments", n_segments))
    image = _lime_image(image_hwc)
    grey = image.ndim == 2

    # explain_instance, step by step, with the same generator calls in the same order.
    explainer = lime_image.LimeImageExplainer(random_state=random_state)
    rgb = lime_image.gray2rgb(image) if grey else image
    # random_seed=random_state: no number is drawn for a default segmentation.
    segments = np.asarray(segmentation_fn(rgb))
    if segments.shape != rgb.shape[:2] or not np.issubdtype(segments.dtype, np.integer):
        raise ValueError(f"segmentation_fn must return H x W integer labels {rgb.shape[:2]}, got "
                         f"{segments.dtype} {segments.shape}")
    fudged = _switched_off_colours(rgb, segments)
    n_features = np.unique(segments).shape[0]
    data = explainer.random_state.randint(0, 2, num_samples * n_features).reshape(
        (num_samples, n_features))
    data[0, :] = 1
    labels_found = np.unique(segments)
    if not np.array_equal(labels_found, np.arange(n_features)):
        warnings.warn(f"segmentation_fn returned labels {labels_found.min()}..{labels_found.max()} "
                      f"({n_features} distinct), not 0..{n_features - 1}: as in lime, bit k "
                      "switches off the pixels labelled k, so some superpixels are never "
                      "switched off (explain.slic_segmenter numbers them 0..d-1).",
                      UserWarning, stacklevel=2)

    # The perturbed images, a batch at a time on the model's device, channels-last (the
    # layout LIME's arrays have, and the faster one for convolutions on a CPU). One blend per
    # batch: torch.lerp(image, fudged, w) with w = 1 where the pixel's superpixel is off and 0
    # where it is on, which is exactly the fudged or the image value (lerp computes
    # end - (end - start) * (1 - w) for w >= 0.5 and start + w * (end - start) below).
    # Pixels whose label is not a bit (see the warning above) are never off, as in lime.
    dev, dtype = _model_device(model), _model_dtype(model)
    pixels = rgb[:, :, :1] if grey else rgb  # the model takes the grey image's one channel
    height, width, channels = pixels.shape
    original = torch.from_numpy(np.ascontiguousarray(pixels)).to(dev, dtype).reshape(-1)
    off_colour = torch.from_numpy(np.ascontiguousarray(fudged[:, :, :channels])).to(dev, dtype)
    off_colour = off_colour.reshape(-1)
    column = np.where((segments >= 0) & (segments < n_features), segments, n_features)
    column = torch.from_numpy(column.astype(np.int64)).to(dev).reshape(-1, 1)
    column = (column * channels + torch.arange(channels, device=dev)).reshape(-1)  # (H*W*C,)
    off = torch.from_numpy((data == 0).astype(np.float32)).to(dev, dtype)
    off = torch.cat([off, off.new_zeros(num_samples, 1)], dim=1)  # column d: never off
    off = off.repeat_interleave(channels, dim=1)  # one weight per (bit, channel)
    logits = []
    with torch.no_grad(), eval_mode(model):
        for start in range(0, num_samples, batch_size):
            w = off[start:start + batch_size].index_select(1, column)
            batch = torch.lerp(original, off_colour, w)
            batch = batch.view(-1, height, width, channels).permute(0, 3, 1, 2)
            if preprocess is not None:
                batch = preprocess(batch)
            logits.append(_forward(model, batch))
            if start == 0 and target is not None:  # checked before the other forward passes
                label = int(_check_target(target, 1, logits[0].shape[1], torch.device("cpu"))[0])
    # lime_classifier_fn's probabilities (a softmax in float64, row by row), in one call
    predictions = F.softmax(torch.cat(logits).double(), dim=1).cpu().numpy()

    distances = sklearn.metrics.pairwise_distances(data, data[0].reshape(1, -1),
                                                   metric="cosine").ravel()
    explanation = lime_image.ImageExplanation(rgb, segments)
    if target is None:
        top = np.argsort(predictions[0])[-1:]
        explanation.top_labels = list(top)
        explanation.top_labels.reverse()
        label = int(top[0])
    # lime's fit (its kernel, feature selection and ridge regression). Its matrices are small
    # (num_samples x d): one BLAS thread, so that BLAS's threads do not wait for torch's.
    with _one_blas_thread():
        (explanation.intercept[label], explanation.local_exp[label], explanation.score,
         explanation.local_pred) = explainer.base.explain_instance_with_data(
            data, predictions, distances, label, 100000, model_regressor=None,
            feature_selection=explainer.feature_selection)
    lime_img, mask = explanation.get_image_and_mask(label, **LIME_DISPLAY)
    return LimeResult(explanation=explanation, label=label, image=lime_img, mask=mask)


# --------------------------------------------------------------------------- occlusion

def occlusion(model: nn.Module, x: torch.Tensor, target: Target, window: int = 16,
              stride: int = 16, baseline: float | torch.Tensor = 0.0,
              batch_size: int = 256) -> torch.Tensor:
    """Sliding-window occlusion (Zeiler & Fergus 2014): how much the class score drops when a
    square patch of the image is replaced by ``baseline``.

    .. math:: d_p = z_t(x) - z_t\\big(x \\odot (1 - m_p) + b\\, m_p\\big), \\qquad
              M(i, j) = \\frac{\\sum_{p \\ni (i, j)} d_p}{\\#\\{p \\ni (i, j)\\}}

    ``m_p`` is the ``window`` x ``window`` patch at position ``p`` (top-left corners every
    ``stride`` pixels, all channels); ``z_t`` is the target class's logit. Each pixel gets the
    mean drop of the patches that cover it (captum's ``Occlusion`` convention), so the map is
    already at the input's size; with ``stride == window`` it is the grid of drops blown up by
    nearest-neighbour. Pixels that no patch covers (when the size is not a multiple of the
    stride) get 0. Positive: hiding the patch lowers the score; negative: it raises it.

    Args:
        model: classifier returning logits (N, K).
        x: images (N, C, H, W).
        target: class per image (int for all, or length N).
        window: side of the square patch, in pixels.
        stride: step between patch positions, in pixels.
        baseline: value put in the patch: a number or a tensor broadcastable to one image
            (C, H, W) (e.g. a blurred copy).
        batch_size: occluded images per forward pass.

    Returns:
        Tensor (N, H, W), in logit units.
    """
    _check_images(model, x)
    for name, v in (("window", window), ("stride", stride), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, Integral) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    n, c, height, width = x.shape
    if window > min(height, width):
        raise ValueError(f"window {window} is larger than the image ({height} x {width})")
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    try:
        base = base.expand(c, height, width) if base.dim() <= 3 else None
    except RuntimeError:
        base = None
    if base is None:
        raise ValueError(f"baseline must be a number or broadcastable to one image "
                         f"({c}, {height}, {width}), got shape {tuple(torch.as_tensor(baseline).shape)}")
    _check_finite(base.reshape(1, -1), "baseline")
    corners = [(i, j) for i in range(0, height - window + 1, stride)
               for j in range(0, width - window + 1, stride)]
    coverage = torch.zeros(height, width, dtype=x.dtype, device=x.device)
    out = torch.zeros(n, height, width, dtype=x.dtype, device=x.device)
    with _explaining(model, grad=False):
        logits = _forward(model, x)
        t = _check_target(target, n, logits.shape[1], x.device)
        score = logits.gather(1, t[:, None])[:, 0]
        # The patch masks are made batch_size at a time (never all P at once: 224 x 224 with
        # window 8 and stride 1 would need 47,089 full-size masks, 8.8 GiB).
        for start in range(0, len(corners), batch_size):
            chunk = _patch_masks(corners[start:start + batch_size], window, height, width, x)
            coverage += chunk.sum(0)
            m = chunk[:, None]                                      # (P, 1, H, W)
            for img in range(n):
                occluded = x[img] * (1 - m) + base * m
                drops = score[img] - _forward(model, occluded)[:, t[img]]   # (P,)
                out[img] += torch.einsum("p,phw->hw", drops, chunk)
    return (out / coverage.clamp_min(1)).detach()


def _patch_masks(corners: list[tuple[int, int]], window: int, height: int, width: int,
                 like: torch.Tensor) -> torch.Tensor:
    """One (H, W) mask per top-left corner: 1 inside the ``window`` x ``window`` patch."""
    masks = torch.zeros(len(corners), height, width, dtype=like.dtype, device=like.device)
    for k, (i, j) in enumerate(corners):
        masks[k, i:i + window, j:j + window] = 1.0
    return masks


# --------------------------------------------------------------------------- predict

def predict(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Class probabilities and top class, in eval mode and without gradients.

    Args:
        model: classifier returning logits (N, K).
        x: a batch-first float tensor, (N, C, H, W) for CNNs or (N, D) for MLPs.

    Returns:
        ``(probabilities (N, K), top class (N,))``.
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError("x must be a batch-first tensor (N, ...)")
    if x.dim() == 4:
        _check_images(model, x)
    else:
        if not x.is_floating_point():
            raise TypeError(f"x must be floating point, got {x.dtype}")
        _check_finite(x, "x")
    with _explaining(model, grad=False):
        probs = F.softmax(_forward(model, x), dim=1)
    return probs.detach(), probs.argmax(dim=1)
