"""Course-wide configuration: data tier, paths, seeding, determinism, device, banner.

Nothing here runs at import time except reading paths; every notebook calls
:func:`setup` once at the top, which is where seeds, threads and determinism are fixed.
"""
from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import torch

from .paths import REPO_ROOT
TIERS = ("auto", "offline", "full")


class CourseDataError(RuntimeError):
    """Raised when data or weights that the chosen tier needs are missing or broken."""


def data_dir() -> Path:
    """Folder holding datasets (``COURSE_DATA_DIR``, default ``<repo>/data``)."""
    return Path(os.environ.get("COURSE_DATA_DIR", REPO_ROOT / "data")).expanduser()


def checkpoint_dir() -> Path:
    """Folder holding the course's trained weights and their manifest."""
    return Path(os.environ.get("COURSE_CHECKPOINT_DIR", REPO_ROOT / "checkpoints")).expanduser()


def requested_tier() -> str:
    """The tier asked for through ``COURSE_DATA`` (``auto`` when unset)."""
    tier = os.environ.get("COURSE_DATA", "auto").strip().lower() or "auto"
    if tier not in TIERS:
        raise ValueError(f"COURSE_DATA={tier!r} is not one of {', '.join(TIERS)}; "
                         "use 'offline' for the data shipped with the course, 'full' for the "
                         "real datasets, or 'auto' to use the real ones where present.")
    return tier


def resolve_tier(what: str, full_available: bool, how_to_get: str, tier: str | None = None) -> str:
    """Decide between ``full`` and ``offline`` for one dataset or model.

    Args:
        what: human name of the dataset or weights, for messages.
        full_available: whether the full tier's files are present (or can be fetched).
        how_to_get: one or two sentences telling the user where the files go and how to get them.
        tier: ``auto | offline | full``; default: :func:`requested_tier`.
    Returns:
        ``"full"`` or ``"offline"``.
    Raises:
        CourseDataError: ``full`` was asked for and the files are not there.
    """
    tier = requested_tier() if tier is None else tier
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {TIERS}, got {tier!r}")
    if tier == "offline":
        return "offline"
    if tier == "full" and not full_available:
        raise CourseDataError(f"COURSE_DATA=full but {what} is not available. {how_to_get} "
                              "Or set COURSE_DATA=offline (or auto) to use the course's offline data.")
    return "full" if full_available else "offline"


def setup(seed: int = 0, threads: int = 2, deterministic: bool = True) -> torch.device:
    """Seed every generator, fix the thread count and ask for deterministic kernels.

    Called once at the top of each notebook and by the training command, so that the same
    code gives the same numbers on every run. In a notebook it also sends figures as compact
    PNG or JPEG images (:func:`course_utils.plot.use_compact_figures`). Returns the device to use
    (CUDA, then Apple MPS, then CPU; ``COURSE_DEVICE`` overrides).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int from 0 to 2**32 - 1, got {seed!r}")
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Deterministic mode also fills every new tensor with NaN by default (to expose reads of
        # uninitialised memory): about 28 % of a conv-heavy lesson's CPU time, same results.
        torch.utils.deterministic.fill_uninitialized_memory = False
        torch.backends.cudnn.benchmark = False
    if "IPython" in sys.modules:  # in a notebook: figures as compact PNG or JPEG (plot.py)
        from .plot import use_compact_figures
        use_compact_figures()
    return get_device()


def get_device() -> torch.device:
    """CUDA if present, then MPS, then CPU; ``COURSE_DEVICE=cpu`` forces one."""
    forced = os.environ.get("COURSE_DEVICE")
    if forced:
        try:
            device = torch.device(forced)
        except RuntimeError:
            raise ValueError(f"COURSE_DEVICE={forced!r} is not a device; use cpu, cuda, cuda:1 "
                             "or mps, or unset it") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"COURSE_DEVICE={forced!r} but PyTorch sees no CUDA GPU here; "
                             "unset COURSE_DEVICE or set it to cpu")
        if device.type == "mps" and not (getattr(torch.backends, "mps", None) is not None
                                         and torch.backends.mps.is_available()):
            raise ValueError(f"COURSE_DEVICE={forced!r} but this machine has no Apple MPS device; "
                             "unset COURSE_DEVICE or set it to cpu")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def banner(tier: str, data: str, weights: str) -> str:
    """One line saying which tier, data and weights a notebook uses (print it)."""
    return f"[course] tier={tier} | data: {data} | weights: {weights}"
