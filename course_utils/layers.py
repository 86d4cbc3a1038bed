"""Find a sub-module by its dotted name (``"layer4"``, ``"features.35"``, ``"cnn.15"``)."""
from __future__ import annotations

import difflib

from torch import nn


def get_layer(model: nn.Module, name: str | nn.Module) -> nn.Module:
    """Return the sub-module called ``name`` (as in ``model.named_modules()``).

    A module passed in is returned as it is, after checking it belongs to ``model``.

    Raises:
        KeyError: no such layer; the message lists the closest names that exist.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(name, (str, nn.Module)):
        raise TypeError(f"layer must be a dotted name (str) such as 'layer4' or a sub-module, "
                        f"got {type(name).__name__} {name!r}" +
                        (f"; write '{name}'" if isinstance(name, int) else ""))
    if isinstance(name, nn.Module):
        if not any(m is name for m in model.modules()):
            raise KeyError("the module given is not part of this model; pass a dotted name "
                           "from model.named_modules() instead.")
        return name
    modules = dict(model.named_modules())
    if name in modules and name != "":
        return modules[name]
    close = difflib.get_close_matches(str(name), [n for n in modules if n], n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise KeyError(f"{type(model).__name__} has no layer named {name!r}.{hint} "
                   "List the names with [n for n, _ in model.named_modules()].")
