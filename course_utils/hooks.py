"""Context managers that look inside a model and always leave it as they found it.

Every helper here restores what it changed when its ``with`` block ends, also when the block
raises (the exception is never swallowed):

- :func:`eval_mode` puts the model in eval mode and gives every module back its own
  ``training`` flag;
- :func:`frozen` switches ``requires_grad`` off on every parameter and gives each one its
  flag back;
- :func:`capture` records layer outputs (and the gradients flowing into them) through hooks
  whose handles are kept and removed in ``finally``;
- :func:`count_hooks` counts the hooks left on a model, so tests can prove nothing leaked.

Lessons 04 and 06 introduce hooks; this is where they live once the reader has seen them.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
from torch import nn

from .layers import get_layer

__all__ = ["Capture", "capture", "count_hooks", "eval_mode", "frozen"]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block, then restore every module's own flag.

    ``model.train()`` after the block would be wrong when some sub-modules were deliberately
    in eval mode (a frozen BatchNorm, say), so each module's ``training`` flag is recorded
    and written back one by one.

    Example:
        >>> with eval_mode(model):
        ...     logits = model(x)
    """
    _check_module(model)
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        # Assign the attribute rather than call .train(flag): .train() recurses into the
        # children (so the result would depend on the order of restoring) and may be
        # overridden by a module with side effects; this writes back exactly what was read.
        for module, flag in flags:
            module.training = flag


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Switch ``requires_grad`` off on every parameter for the block, then restore each flag.

    Inside the block autograd records no path to the weights, so differentiating with
    respect to the input (or an activation) is cheaper and can never touch ``param.grad``.
    """
    _check_module(model)
    flags = [(param, param.requires_grad) for param in model.parameters()]
    try:
        for param, _ in flags:
            param.requires_grad_(False)
        yield model
    finally:
        for param, flag in flags:
            param.requires_grad_(flag)


class Capture:
    """What :func:`capture` records.

    Attributes:
        names: the layers' dotted names, in the order they were asked for.
        activations: ``name -> output tensor`` of that layer's most recent call. Inside the
            ``with`` block the tensors are still attached to the autograd graph (so that
            ``torch.autograd.grad(score, cap.activations[name])`` works); when the block ends
            they are detached, so a ``Capture`` kept afterwards does not hold the graph alive.
        gradients: ``name -> d(whatever was differentiated) / d(output)``, filled during the
            backward pass when ``gradients=True``; matches the most recent call's output.
        calls: ``name -> how many times the layer ran``. A layer that runs more than once in a
            forward pass (a shared module) keeps only its last output: check this count.
    """

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        self.activations: dict[str, torch.Tensor] = {}
        self.gradients: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = {name: 0 for name in self.names}
        self._versions: dict[str, int] = {}

    def modified_in_place(self, name: str) -> bool:
        """Whether the captured output was overwritten by an in-place op after the hook ran.

        ``nn.ReLU(inplace=True)`` right after a convolution does this: the tensor captured
        as the convolution's output then holds the ReLU's output, while the gradient a
        tensor hook receives is still that of the value before the change (PyTorch's rule
        for hooks on tensors modified in place). Hook the ReLU instead in that case.
        """
        act = self.activations.get(name)
        return act is not None and act._version != self._versions.get(name, act._version)

    def __repr__(self) -> str:
        shapes = {k: tuple(v.shape) for k, v in self.activations.items()
                  if isinstance(v, torch.Tensor)}
        return f"Capture(names={self.names}, activations={shapes}, gradients={list(self.gradients)})"


def _check_module(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _layer_names(model: nn.Module, layers: str | nn.Module | Sequence[str | nn.Module]) -> list[tuple[str, nn.Module]]:
    _check_module(model)
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    if not isinstance(layers, (list, tuple)):
        raise TypeError(f"layers must be a dotted name (str), a sub-module, or a list of them, "
                        f"got {type(layers).__name__} {layers!r}" +
                        (f"; write '{layers}'" if isinstance(layers, int) else ""))
    found = []
    for layer in layers:
        module = get_layer(model, layer)  # raises KeyError naming the closest layers
        if isinstance(layer, str):
            name = layer
        else:
            name = next(n for n, m in model.named_modules() if m is module)
        found.append((name, module))
    names = [n for n, _ in found]
    if len(set(names)) != len(names):
        raise ValueError(f"the same layer was asked for twice: {names}")
    return found


@contextmanager
def capture(model: nn.Module, layers: str | nn.Module | Sequence[str | nn.Module],
            gradients: bool = False) -> Iterator[Capture]:
    """Record the outputs (and optionally their gradients) of some layers for one block.

    Args:
        model: the network.
        layers: a dotted name such as ``"layer4"`` or ``"features.35"``, a sub-module, or a
            list of them.
        gradients: also record the gradient with respect to each output during backward.

    Yields:
        A :class:`Capture` with ``activations``, ``gradients`` and ``calls`` dictionaries.

    Every handle is removed in ``finally``, so the model carries no hook after the block,
    whether it ended normally or by an exception (which propagates).

    Gradients use a *tensor* hook (``output.register_hook``) registered from the forward
    hook, not ``Module.register_full_backward_hook``. The tensor hook receives exactly
    d/d(output) of this tensor; the full backward hook wraps the module's outputs in a
    ``BackwardHookFunction`` that breaks when a later layer modifies them in place (the
    ``ReLU(inplace=True)`` of torchvision's VGG and ResNet) and fires only when the module's
    inputs require grad. The deprecated ``register_backward_hook`` used by seed 002 is worse:
    it reports the gradient of the last operation inside the module, which for a module made
    of several operations is not the gradient of its output.

    Example:
        >>> with capture(model, "layer4", gradients=True) as cap:
        ...     model(x)[0, 3].backward()
        >>> cap.activations["layer4"].shape, cap.gradients["layer4"].shape
    """
    targets = _layer_names(model, layers)
    cap = Capture([name for name, _ in targets])
    handles: list[torch.utils.hooks.RemovableHandle] = []

    def make_forward_hook(name: str):
        def forward_hook(module, inputs, output):
            cap.calls[name] += 1
            cap.activations[name] = output
            if isinstance(output, torch.Tensor):
                cap._versions[name] = output._version
            if gradients and isinstance(output, torch.Tensor) and output.requires_grad:
                call = cap.calls[name]

                def store_grad(grad: torch.Tensor, call: int = call) -> None:
                    # Backward visits calls in reverse order: keep the one whose output
                    # is in cap.activations (the last call).
                    if call == cap.calls[name]:
                        cap.gradients[name] = grad
                handles.append(output.register_hook(store_grad))
        return forward_hook

    try:
        for name, module in targets:
            handles.append(module.register_forward_hook(make_forward_hook(name)))
        yield cap
    finally:
        for handle in handles:
            handle.remove()
        # Drop the graph: what is kept after the block is data, not a live autograd graph.
        cap.activations = {k: v.detach() if isinstance(v, torch.Tensor) else v
                           for k, v in cap.activations.items()}
        cap.gradients = {k: v.detach() for k, v in cap.gradients.items()}


def count_hooks(model: nn.Module) -> int:
    """Total number of forward, forward-pre, backward and backward-pre hooks on all modules.

    A model fresh from its constructor has 0; every helper in ``course_utils`` leaves it so.
    """
    _check_module(model)
    total = 0
    for module in model.modules():
        total += len(module._forward_hooks) + len(module._forward_pre_hooks)
        total += len(module._backward_hooks) + len(module._backward_pre_hooks)
    return total
