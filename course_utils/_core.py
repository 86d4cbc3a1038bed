"""Internal: the input checks and the guarded forward pass that every method shares.

:mod:`course_utils.explain`, :mod:`course_utils.metrics` and the course's tools call these
instead of each other's private helpers. The names carry no underscore because other modules
import them; the module's leading underscore says they are not part of the lessons' API and may
change without notice.
"""
from __future__ import annotations

import math
from contextlib import ExitStack, contextmanager
from numbers import Integral, Real
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from .hooks import eval_mode, frozen

__all__ = ["Target", "check_images", "check_finite", "check_target", "check_count",
           "check_real", "forward", "explaining", "leaf", "model_device", "model_dtype"]

Target = int | Sequence[int] | torch.Tensor | np.ndarray


# --------------------------------------------------------------------------- images

def check_images(model: nn.Module | None, x: Any, what: str = "x") -> None:
    """Check a batch of images: a finite 4-D float tensor whose channels fit the model."""
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        hint = " Add the batch dimension with x.unsqueeze(0)." if x.dim() == 3 else ""
        raise ValueError(f"{what} must be a 4-D batch (N, C, H, W), got shape {tuple(x.shape)}.{hint}")
    if not x.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got dtype {x.dtype}; "
                        "convert it with x.float() (and scale uint8 images to [0, 1]).")
    if x.shape[0] == 0:
        raise ValueError(f"{what} is an empty batch (N = 0)")
    if x.device.type == "meta":
        raise ValueError(f"{what} is on the meta device, which holds shapes but no values; "
                         "explain real data (x.to('cpu') or the model's device)")
    check_finite(x, what)
    if model is not None:
        _check_channels(model, x, what)


def _looks_channels_last(x: torch.Tensor) -> bool:
    # (N, H, W, C) with an image's few channels last and many "channels" first.
    return x.shape[-1] in (1, 3, 4) and x.shape[1] > 4


def _check_channels(model: nn.Module, x: torch.Tensor, what: str) -> None:
    """Refuse a batch whose channel count cannot be the model's.

    Any convolution with a matching ``in_channels`` is accepted at no cost. Otherwise (and for
    a batch that looks channels-last) the model is run until its first convolution *actually
    applied* (registration order says nothing about the order of ``forward``), and that
    convolution's input is compared with what it expects.
    """
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    channels_last = _looks_channels_last(x)
    permute = (f" It looks channels-last (N, H, W, C): use {what}.permute(0, 3, 1, 2)."
               if channels_last else "")
    if not convs:
        if channels_last:
            raise ValueError(f"{what} has shape {tuple(x.shape)}, which looks channels-last "
                             f"(N, H, W, C); the course's models take (N, C, H, W): use "
                             f"{what}.permute(0, 3, 1, 2).")
        return
    if not channels_last and any(c.in_channels == x.shape[1] for c in convs):
        return
    first = _first_applied_conv(model, x)
    if first is None:
        return
    name, conv, got = first
    if got != conv.in_channels:
        raise ValueError(f"{type(model).__name__}'s first convolution {name!r} expects "
                         f"{conv.in_channels} input channels, but {what} has {x.shape[1]} "
                         f"(shape {tuple(x.shape)}).{permute}")


class _FirstConv(Exception):
    """Raised by the dry run's hook to stop at the first convolution applied."""


def _first_applied_conv(model: nn.Module, x: torch.Tensor) -> tuple[str, nn.Conv2d, int] | None:
    """``(name, conv, channels it receives)`` of the first Conv2d that ``forward`` applies.

    A dry run in eval mode without gradients, stopped before that convolution computes
    anything; its hooks are removed in ``finally``. None when no convolution runs (or the model
    fails before reaching one: the real forward pass will then report it).
    """
    names = {m: n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    seen: list[tuple[str, nn.Conv2d, int]] = []

    def pre_hook(module, inputs):
        arg = inputs[0] if inputs else None
        channels = arg.shape[1] if isinstance(arg, torch.Tensor) and arg.dim() >= 2 else -1
        seen.append((names[module], module, channels))
        raise _FirstConv

    handles = [m.register_forward_pre_hook(pre_hook) for m in names]
    try:
        with torch.no_grad(), eval_mode(model):
            model(x)
    except _FirstConv:
        pass
    except Exception:  # noqa: BLE001  (the real forward pass reports the model's own errors)
        return None
    finally:
        for handle in handles:
            handle.remove()
    return seen[0] if seen else None


def check_finite(x: torch.Tensor, what: str) -> None:
    """Refuse NaN and inf, naming the samples (first dimension) that hold them."""
    finite = torch.isfinite(x).reshape(x.shape[0], -1).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten().tolist()
        raise ValueError(f"{what} contains NaN or inf values (in sample(s) {bad}); "
                         "explanations of such inputs are meaningless.")


# --------------------------------------------------------------------------- arguments

def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """An int (not a bool, not a float) of at least ``minimum``; returned as ``int``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_real(name: str, value: Any, minimum: float = 0.0) -> float:
    """A finite real number (not a bool) of at least ``minimum``; returned as ``float``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) \
            or value < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum:g}, got {value!r}")
    return float(value)


def check_target(target: Target, n: int, num_classes: int, device: torch.device) -> torch.Tensor:
    """Turn ``target`` into a LongTensor (N,), checking its type, length and range."""
    valid = f"valid targets are 0..{num_classes - 1} (the model has {num_classes} classes)"
    if target is None or isinstance(target, (str, bytes)):
        raise TypeError(f"target must be a class index (int) or one int per image, got "
                        f"{target!r}; {valid}. Pass e.g. target=3 or target=labels.")
    if isinstance(target, bool) or isinstance(target, (float, np.floating)):
        raise TypeError(f"target must be an int or a sequence of ints, got {target!r}")
    if isinstance(target, Integral):
        targets = [int(target)] * n
    else:
        try:
            t = torch.as_tensor(target)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"target must be an int or a sequence of ints (one per image), got "
                            f"{target!r}; {valid}.") from err
        if t.dim() == 0:
            t = t.reshape(1).expand(n)
        if t.dim() != 1:
            raise ValueError(f"target must be an int or 1-D (one class per image), got shape {tuple(t.shape)}")
        if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
            raise TypeError(f"target must hold integers, got dtype {t.dtype}")
        if len(t) != n:
            raise ValueError(f"target has length {len(t)} but the batch has {n} images; "
                             "give one class per image (or one int for all).")
        targets = [int(v) for v in t.tolist()]
    # strict=True: a length mismatch can never be silently truncated.
    for i, (_, t_i) in enumerate(zip(range(n), targets, strict=True)):
        if not 0 <= t_i < num_classes:
            raise IndexError(f"target {t_i} (image {i}) is out of range: {valid}")
    return torch.tensor(targets, dtype=torch.long, device=device)


# --------------------------------------------------------------------------- running the model

def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run the model and check that it returns logits of shape (N, K)."""
    try:
        out = model(x)
    except RuntimeError as err:
        # Re-raised (never swallowed) with the likeliest culprit: device, dtype, then shape.
        device, dtype = model_device(model), model_dtype(model)
        if x.device != device and any(True for _ in model.parameters()):
            raise RuntimeError(f"x is on {x.device} but {type(model).__name__}'s weights are on "
                               f"{device}: move one of them (x.to({str(device)!r}))") from err
        if x.dtype != dtype and any(p.is_floating_point() for p in model.parameters()):
            raise RuntimeError(f"x is {x.dtype} but {type(model).__name__}'s weights are {dtype}: "
                               f"convert x with x.to({dtype})") from err
        hint = (" A single image? Add the batch dimension with x.unsqueeze(0)."
                if x.dim() == 3 else "")
        raise RuntimeError(f"{type(model).__name__} failed on an input of shape "
                           f"{tuple(x.shape)}: {err}. If the shape is the cause, check the "
                           f"channel count and image size the model was built for.{hint}") from err
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model must return logits of shape (N, num_classes) = "
                         f"({x.shape[0]}, K), got {got}")
    return out


@contextmanager
def explaining(model: nn.Module, grad: bool = True) -> Iterator[None]:
    """Eval mode + frozen parameters (+ gradients switched on even inside ``no_grad``)."""
    with ExitStack() as stack:
        stack.enter_context(eval_mode(model))
        stack.enter_context(frozen(model))
        stack.enter_context(torch.enable_grad() if grad else torch.no_grad())
        yield


def leaf(x: torch.Tensor) -> torch.Tensor:
    """A fresh leaf that shares ``x``'s data and requires grad (``x`` itself is untouched)."""
    return x.detach().requires_grad_(True)


def model_device(model: nn.Module) -> torch.device:
    """Where the model's first parameter (or buffer) lives; the CPU for a model with neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (float32 when there is none)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32
