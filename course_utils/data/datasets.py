"""The dataset classes every loader returns, the class names, and per-class mean images.

Every dataset returns ``(image, label)`` with the image a float32 tensor in [0, 1], channels
first, and carries ``tier``, ``description``, ``classes``, ``masks`` and ``getbatch``.
"""
from __future__ import annotations

import operator
from typing import Iterable, Sequence

import numpy as np
import torch

__all__ = ["CIFAR10_CLASSES", "FOOD11_CLASSES", "MNIST_CLASSES", "CourseDataset",
           "TensorImageDataset", "mean_image_per_class"]

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
FOOD11_CLASSES = ["Bread", "Dairy product", "Dessert", "Egg", "Fried food", "Meat",
                  "Noodles/Pasta", "Rice", "Seafood", "Soup", "Vegetable/Fruit"]
MNIST_CLASSES = [str(k) for k in range(10)]


class CourseDataset(torch.utils.data.Dataset):
    """Common interface: ``ds[i] -> (image, label)``, ``len(ds)``, ``getbatch``, metadata.

    Attributes:
        tier: ``"full"`` or ``"offline"``.
        description: one line for the notebook banner.
        classes: class names, indexed by label.
        masks: ``None``, or a bool tensor ``(N, H, W)`` marking the object in each image.
    """

    tier: str
    description: str
    classes: list[str]
    masks: torch.Tensor | None = None

    def __len__(self) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_index(self, index) -> int:
        """Turn ``index`` into a non-negative int, raising IndexError when out of range."""
        if isinstance(index, (bool, np.bool_)) or (isinstance(index, torch.Tensor)
                                                   and index.dtype == torch.bool):
            raise TypeError(f"index must be an int, got the boolean {index!r}")
        i = operator.index(index)  # accepts ints and 0-d integer tensors, rejects floats
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for this dataset of {n} images "
                             f"(valid: 0..{n - 1}).")
        return i % n

    def getbatch(self, indices: Iterable[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack the images and labels at ``indices`` (as the food-11 homework's helper).

        Returns:
            ``(images (B, C, H, W) float32, labels (B,) long)``.
        """
        items = [self[i] for i in _as_index_list(indices)]
        if not items:
            raise ValueError("getbatch needs at least one index.")
        images, labels = zip(*items)
        return torch.stack(images), torch.tensor(labels, dtype=torch.long)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} tier={self.tier} n={len(self)}: {self.description}>"


class TensorImageDataset(CourseDataset):
    """Images held in memory as uint8 ``(N, C, H, W)``, converted to float on access.

    The conversion ``uint8 / 255`` is exactly what torchvision's ``ToTensor`` does, so the
    values equal those of the torchvision datasets this class wraps.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str],
                 tier: str, description: str, masks: torch.Tensor | None = None,
                 source=None):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} "
                             f"{tuple(images.shape)}")
        if len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        given = torch.as_tensor(labels)
        if given.ndim != 1 or given.is_floating_point() or given.is_complex() or given.dtype == torch.bool:
            raise TypeError(f"labels must be 1-D integer class indices, got {given.dtype} "
                            f"{tuple(given.shape)}")
        if len(given) and not (0 <= int(given.min()) and int(given.max()) < len(classes)):
            raise ValueError(f"labels must be class indices 0..{len(classes) - 1} ({len(classes)} "
                             f"classes), found {int(given.min())}..{int(given.max())}")
        self.images = images
        self.labels = given.to(torch.long)
        self.classes = list(classes)
        self.tier = tier
        self.description = description
        self.masks = masks
        self.source = source  # the torchvision dataset behind it, when there is one

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> tuple[torch.Tensor, int]:
        i = self._check_index(index)
        return self.images[i].float().div(255), int(self.labels[i])

    def getbatch(self, indices: Iterable[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack the images and labels at ``indices`` (vectorised)."""
        idx = [self._check_index(i) for i in _as_index_list(indices)]
        if not idx:
            raise ValueError("getbatch needs at least one index.")
        idx_t = torch.tensor(idx, dtype=torch.long)
        return self.images[idx_t].float().div(255), self.labels[idx_t].clone()



def _as_index_list(indices) -> list:
    """Indices as a flat list; a boolean mask is refused (its True/False would read as 1/0)."""
    if isinstance(indices, (torch.Tensor, np.ndarray)):
        if indices.dtype == (torch.bool if isinstance(indices, torch.Tensor) else np.bool_):
            raise TypeError("getbatch takes indices, not a boolean mask; turn the mask into "
                            "indices with torch.nonzero(mask).flatten() (or np.flatnonzero).")
        return indices.reshape(-1).tolist()
    if isinstance(indices, (int, np.integer)):
        raise TypeError(f"getbatch takes a sequence of indices, got the single index "
                        f"{indices!r}; use getbatch([{indices!r}]) or ds[{indices!r}].")
    items = list(indices)
    if any(isinstance(i, (bool, np.bool_)) for i in items):
        raise TypeError("getbatch takes indices, not a list of booleans (a mask); use "
                        "[i for i, keep in enumerate(mask) if keep].")
    return items


def mean_image_per_class(ds, num_classes: int) -> torch.Tensor:
    """Mean image of each class (lesson 02 pulls prototypes towards these).

    Args:
        ds: a dataset of ``(image, label)`` pairs (any from :func:`load_dataset`).
        num_classes: number of classes ``K``; labels must lie in ``0..K-1``.

    Returns:
        float32 tensor ``(K, C, H, W)``.

    Raises:
        ValueError: a label outside ``0..K-1``, or a class with no image.
    """
    if isinstance(ds, TensorImageDataset):
        # Exact integer sums over the uint8 images, in chunks to bound memory.
        labels = ds.labels
        _check_labels(labels, num_classes)
        sums = torch.zeros((num_classes,) + tuple(ds.images.shape[1:]), dtype=torch.int64)
        for start in range(0, len(ds), 2048):
            chunk = ds.images[start:start + 2048].long()
            sums.index_add_(0, labels[start:start + 2048], chunk)
        counts = torch.bincount(labels, minlength=num_classes)
        _check_counts(counts)
        return (sums.double() / (255.0 * counts.double().view(-1, 1, 1, 1))).float()

    sums, counts = None, torch.zeros(num_classes, dtype=torch.int64)
    for start in range(0, len(ds), 256):
        images, labels = ds.getbatch(range(start, min(start + 256, len(ds))))
        _check_labels(labels, num_classes)
        if sums is None:
            sums = torch.zeros((num_classes,) + tuple(images.shape[1:]), dtype=torch.float64)
        sums.index_add_(0, labels, images.double())
        counts += torch.bincount(labels, minlength=num_classes)
    if sums is None:
        raise ValueError("the dataset is empty")
    _check_counts(counts)
    return (sums / counts.double().view(-1, 1, 1, 1)).float()


def _check_labels(labels: torch.Tensor, num_classes: int) -> None:
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, found "
                         f"{int(labels.min())}..{int(labels.max())}")


def _check_counts(counts: torch.Tensor) -> None:
    empty = torch.nonzero(counts == 0).flatten().tolist()
    if empty:
        raise ValueError(f"class(es) {empty} have no image, so they have no mean image")
