"""Model summaries for lesson 01: torchsummaryX as the source runs it, torchinfo beside it.

The source prints ResNet-18's layer table with::

    from torchsummaryX import summary
    summary(resnet18(pretrained=False), torch.zeros((1, 3, 224, 224)))

and reads off **11,689,512 parameters and 1,814,078,144 mult-adds**. torchsummaryX 1.3.0,
its last release, no longer runs under pandas >= 2 (its GitHub issue #28): after building
its table it calls ``df.sum()`` on a frame that still holds object columns (lists of
shapes, dicts of RNN weights, ``"-"`` placeholders). pandas 1 silently dropped the columns it
could not add up; pandas 2 raises ``TypeError``. :func:`torchsummaryx_compat` repairs exactly
that one call and nothing else, so :func:`torchsummaryx_summary` runs torchsummaryX's own
code and prints its own table.

Two counting conventions meet in this lesson:

* torchsummaryX counts one multiply-add per **weight** element and output position
  (``weight.numel() * H_out * W_out`` for a convolution, ``weight.numel()`` for any other
  layer) and ignores biases and the batch size.
* torchinfo adds the **bias** terms and multiplies by the batch size. For ResNet-18 it reports
  1,814,083,944: 5,800 more, the 4,800 BatchNorm shifts and the 1,000 biases of ``fc``.
  :func:`torchinfo_totals` recounts torchinfo's layer list in torchsummaryX's convention, so
  both libraries can be checked against the source's number.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import io
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torchinfo
from torch import nn

from ._core import model_device
# eval mode: a summary only needs shapes; in train mode the forward pass would also move
# BatchNorm's running statistics towards the dummy input's.
from .hooks import eval_mode

# The module (not the package) that defines torchsummaryX's ``summary``: the seam below
# recognises the one ``df.sum()`` call that comes from this function's code.
_tsx = importlib.import_module("torchsummaryX.torchsummaryX")

__all__ = [
    "torchsummaryx_compat",
    "torchsummaryx_summary",
    "torchinfo_summary",
    "torchinfo_totals",
    "model_totals",
    "compare_models",
    "CLASSIFIER_NAMES",
]

#: Attribute names under which torchvision models keep their final classifier.
CLASSIFIER_NAMES = ("fc", "classifier", "head")

# Guards the swap of ``DataFrame.sum`` so two threads never restore each other's state.
_SEAM_LOCK = threading.RLock()


@contextlib.contextmanager
def torchsummaryx_compat() -> Iterator[list[pd.Series]]:
    """Let torchsummaryX 1.3.0 run under pandas >= 2, for the duration of a ``with`` block.

    What breaks: ``torchsummaryX.summary`` calls ``df_sum = df.sum()``, before it prints
    anything, over a frame that still holds ``object`` columns (it is built from a dict of
    dicts and transposed; only the three columns it has just converted with ``pd.to_numeric``
    are numeric). pandas 1 dropped the columns it could not add ("nuisance columns"); pandas 2
    raises ``TypeError``.
    The seam replaces ``pandas.DataFrame.sum`` inside the block with a wrapper that, **only
    for a call made from torchsummaryX's ``summary`` with no arguments**, does what pandas 1
    did for the columns torchsummaryX reads: ``df.infer_objects().sum(numeric_only=True)``
    (``infer_objects`` turns the all-integer ``params_nt`` column back into numbers). Every
    other call passes straight through to pandas. The original method is put back when the
    block ends, also when it ends with an exception.

    Yields:
        A list that receives each ``Series`` of column sums torchsummaryX computed: the totals
        it prints (``Params``, ``params_nt``, ``Mult-Adds``).
    """
    captured: list[pd.Series] = []
    tsx_code = _tsx.summary.__code__
    with _SEAM_LOCK:
        original = pd.DataFrame.sum

        @functools.wraps(original)
        def _sum(self, *args, **kwargs):
            if not args and not kwargs and sys._getframe(1).f_code is tsx_code:
                totals = original(self.infer_objects(), numeric_only=True)
                captured.append(totals)
                return totals
            return original(self, *args, **kwargs)

        pd.DataFrame.sum = _sum
        try:
            yield captured
        finally:
            pd.DataFrame.sum = original


def _check_input(x: object) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (tuple, list, torch.Size)):
        raise TypeError(
            f"x must be an example input tensor such as torch.zeros({', '.join(map(str, x))}), "
            f"not a shape {tuple(x)}; torchinfo_summary is the one that takes a shape.")
    raise TypeError(f"x must be a torch.Tensor (an example batch), got {type(x).__name__}.")


def _shape_error(model: nn.Module, shape: Sequence[int], err: Exception) -> ValueError:
    return ValueError(
        f"{type(model).__name__} could not run on an input of shape {tuple(shape)}: {err}. "
        "Check the batch, channel and image sizes the model expects, for example "
        "(1, 3, 224, 224) for the ImageNet models or (1, 1, 28, 28) for MNIST.")


def torchsummaryx_summary(model: nn.Module, x: torch.Tensor,
                          print_table: bool = True) -> pd.DataFrame:
    """Lesson 01's model summary, computed and printed by torchsummaryX itself.

    Runs ``torchsummaryX.summary(model, x)`` through :func:`torchsummaryx_compat`, with the
    model in eval mode (each module's mode is restored afterwards; torchsummaryX removes its
    own hooks, also on errors). One row per leaf layer call, named as torchsummaryX names
    them (``0_conv1``, ``4_layer1.0.Conv2d_conv1``, ...).

    Args:
        model: the network; ``x`` must be on the same device (``"meta"`` works and is fast).
        x: an example batch, e.g. ``torch.zeros(1, 3, 224, 224)``.
        print_table: print torchsummaryX's table and totals, as the source does.

    Returns:
        torchsummaryX's DataFrame (columns ``Kernel Shape``, ``Output Shape``, ``Params``,
        ``Mult-Adds``; index ``Layer``). ``df.attrs`` holds the totals torchsummaryX printed
        as integers: ``total_params``, ``trainable_params``, ``non_trainable_params``,
        ``mult_adds``.

    Raises:
        TypeError: ``x`` is not a tensor (for example a shape tuple).
        ValueError: the model cannot run on ``x``; the message names the shape.
    """
    x = _check_input(x)
    out = contextlib.nullcontext() if print_table else contextlib.redirect_stdout(io.StringIO())
    try:
        with eval_mode(model), torchsummaryx_compat() as sums, out:
            df = _tsx.summary(model, x)
    except RuntimeError as err:  # shape mismatches surface as RuntimeError from deep inside
        raise _shape_error(model, x.shape, err) from err
    totals = sums[0]
    trainable = int(round(float(np.nan_to_num(totals.get("Params", 0.0)))))
    frozen = int(round(float(totals.get("params_nt", 0))))
    df.attrs.update(total_params=trainable + frozen, trainable_params=trainable,
                    non_trainable_params=frozen,
                    mult_adds=int(round(float(np.nan_to_num(totals.get("Mult-Adds", 0.0))))))
    return df


def torchinfo_summary(model: nn.Module, input_size: Sequence[int],
                      **kw) -> torchinfo.ModelStatistics:
    """The same summary from torchinfo (maintained), for side-by-side reading.

    Defaults differ from torchinfo's own in three ways, each overridable through ``kw``:
    the columns are the ones torchsummaryX shows (kernel size, output size, parameters,
    mult-adds) with the layers' attribute names; nothing is printed (``print(stats)`` shows
    the table); and the model stays on its own device (torchinfo would move it to CUDA when
    one is present). Each module's train/eval flag is restored afterwards.

    Args:
        model: the network.
        input_size: the input shape with its batch dimension, e.g. ``(1, 3, 224, 224)``.
        **kw: passed to ``torchinfo.summary`` (``depth``, ``col_names``, ``verbose``, ...).

    Returns:
        torchinfo's ``ModelStatistics``; its ``total_mult_adds`` includes bias terms (see
        :func:`torchinfo_totals` for the source's convention).

    Raises:
        ValueError: the model cannot run on ``input_size``; the message names the shape.
    """
    options = dict(col_names=("kernel_size", "output_size", "num_params", "mult_adds"),
                   row_settings=("var_names",), verbose=0, device=model_device(model))
    options.update(kw)
    try:
        with eval_mode(model):
            return torchinfo.summary(model, input_size=tuple(input_size), **options)
    except RuntimeError as err:  # torchinfo re-raises forward errors as RuntimeError
        raise _shape_error(model, input_size, err) from err


def _weight_mult_adds(module: nn.Module, output_size: Sequence[int]) -> int:
    """torchsummaryX's count for one leaf layer call: weights only, batch ignored."""
    total = 0
    for name, param in module.named_parameters():
        if name == "weight":
            spatial = int(np.prod(output_size[2:])) if "Conv" in type(module).__name__ else 1
            total += param.numel() * spatial
        elif "weight" in name:  # RNN layers keep weight_ih_l0, weight_hh_l0, ...
            total += param.numel()
    return total


def torchinfo_totals(stats: torchinfo.ModelStatistics) -> dict[str, int]:
    """Totals from a torchinfo summary, with mult-adds in both conventions.

    Returns:
        ``params`` (torchinfo's total), ``mult_adds`` (torchinfo's layer list recounted the
        way torchsummaryX and the source count: weight elements only, batch size ignored)
        and ``mult_adds_torchinfo`` (torchinfo's own total: weights and biases, whole batch).
    """
    recount = sum(_weight_mult_adds(layer.module, layer.output_size)
                  for layer in stats.summary_list if layer.is_leaf_layer)
    return dict(params=int(stats.total_params), mult_adds=int(recount),
                mult_adds_torchinfo=int(stats.total_mult_adds))


def _classifier(model: nn.Module) -> tuple[str, nn.Module | None]:
    for name in CLASSIFIER_NAMES:
        module = getattr(model, name, None)
        if isinstance(module, nn.Module):
            return name, module
    return "", None


def _count(modules: list[nn.Module]) -> int:
    # A parameter shared by several modules is counted once.
    unique = {id(p): p.numel() for m in modules for p in m.parameters()}
    return sum(unique.values())


def model_totals(model: nn.Module, x: torch.Tensor) -> dict[str, int | float | str]:
    """Lesson 01's comparison figures for one model.

    Parameters and mult-adds come from torchsummaryX (:func:`torchsummaryx_summary`, nothing
    printed); the rest from the model's modules.

    Args:
        model: the network; ``x`` on the same device (``"meta"`` is fast and exact here).
        x: an example batch.

    Returns:
        A dict with ``params`` (all parameters, trainable or not), ``mult_adds``
        (torchsummaryX's convention), ``depth`` (number of convolution and linear layers; a
        ResNet's 1x1 shortcut convolutions count too, so ResNet-18 gives 21 = 18 + 3),
        ``classifier`` (the head's attribute name, one of :data:`CLASSIFIER_NAMES`, or ``""``),
        ``classifier_params`` and ``classifier_share`` (its share of all parameters), and
        ``linear_share`` (share of parameters in fully connected ``nn.Linear`` layers: 0 for
        SqueezeNet, whose classifier is a 1x1 convolution).
    """
    df = torchsummaryx_summary(model, x, print_table=False)
    params = df.attrs["total_params"]
    layer_types = (nn.modules.conv._ConvNd, nn.Linear)
    depth = sum(isinstance(m, layer_types) for m in model.modules())
    name, head = _classifier(model)
    head_params = _count([head]) if head is not None else 0
    linear_params = _count([m for m in model.modules() if isinstance(m, nn.Linear)])
    return dict(params=params, mult_adds=df.attrs["mult_adds"], depth=depth,
                classifier=name, classifier_params=head_params,
                classifier_share=head_params / params if params else float("nan"),
                linear_share=linear_params / params if params else float("nan"))


def compare_models(builders: Mapping[str, Callable[[], nn.Module]],
                   input_size: Sequence[int] = (1, 3, 224, 224),
                   device: str | torch.device = "meta") -> pd.DataFrame:
    """Summarise several models side by side (lesson 01).

    By default every model is built and run on PyTorch's ``"meta"`` device: tensors there
    have shapes but no data, so parameter counts and mult-adds are exact while nothing is
    initialised or computed (the eight torchvision models of the lesson take about 3 s instead
    of about 35 s on two CPU cores). Builders must therefore build untrained models
    (``weights=None``); pass ``device="cpu"`` for a builder that needs real tensors.

    Args:
        builders: name -> callable returning a fresh model, e.g.
            ``{"ResNet-18": lambda: torchvision.models.resnet18(weights=None)}``.
        input_size: input shape with its batch dimension.
        device: where to build and run the models.

    Returns:
        One row per model, in the order given, with the columns of :func:`model_totals`.
    """
    rows = {}
    for name, build in builders.items():
        with torch.device(device):
            model = build()
        x = torch.zeros(tuple(input_size), device=device)
        rows[name] = model_totals(model, x)
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "model"
    return df
