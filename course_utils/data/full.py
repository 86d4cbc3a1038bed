"""The full tier: the real MNIST, CIFAR-10 (through torchvision) and food-11 (placed by hand).

What the files are, where they go, whether they are there, how to download them (MNIST and
CIFAR-10 only, and only when ``COURSE_DATA=full`` asks for it), and how to read them into the
course's dataset classes. Every failure is a :class:`~course_utils.config.CourseDataError`
naming the folder, the files and where to get them.
"""
from __future__ import annotations

import re
import socket
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch

from ..config import CourseDataError, data_dir
from .datasets import FOOD11_CLASSES, MNIST_CLASSES, CourseDataset, TensorImageDataset

__all__ = ["Food11Folder", "FOOD11_FOLDER", "mnist_how_to_get", "cifar_how_to_get",
           "food11_how_to_get", "mnist_present", "cifar_present", "food11_present",
           "full_available", "load_mnist_full", "load_cifar_full"]

_MNIST_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                    "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                "test_batch", "batches.meta")
_DOWNLOAD_TIMEOUT_S = 15
# food-11's own folder for each split name ("train"/"test" are the course-wide aliases).
FOOD11_FOLDER = {"train": "training", "training": "training", "validation": "validation",
                 "test": "evaluation", "evaluation": "evaluation"}


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



# --------------------------------------------------------------------------------------------
# food-11 checks
# --------------------------------------------------------------------------------------------
def _scan_food11_folder(folder: Path) -> tuple[list[Path], list[int]]:
    """List ``<label>_<index>.jpg`` files sorted by name; raise listing every bad name."""
    if not folder.is_dir():
        raise CourseDataError(f"food-11 folder {folder} does not exist. {food11_how_to_get()}")
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
                              f"{food11_how_to_get()}")
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
def mnist_how_to_get(root: Path) -> str:
    raw = root / "MNIST" / "raw"
    return (f"Put the four unzipped MNIST files {', '.join(_MNIST_RAW_FILES)} in {raw}/ "
            "(torchvision downloads them there with torchvision.datasets.MNIST(root, "
            "download=True); the files come from https://ossci-datasets.s3.amazonaws.com/mnist/ "
            "or http://yann.lecun.com/exdb/mnist/).")


def cifar_how_to_get(root: Path) -> str:
    folder = root / "cifar-10-batches-py"
    return (f"Put the CIFAR-10 python batches ({', '.join(_CIFAR_FILES)}) in {folder}/: download "
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and unpack it in "
            f"{root}/ (or let torchvision.datasets.CIFAR10(root, download=True) do it).")


def food11_how_to_get(root: Path | None = None) -> str:
    folder = (root or data_dir()) / "food-11"
    return (f"food-11 is never downloaded automatically: place it by hand as {folder}/training/, "
            f"{folder}/validation/ and {folder}/evaluation/, each holding JPEG files named "
            "<label>_<index>.jpg (label 0..10, e.g. 3_120.jpg). It is the Food-11 dataset "
            "(Singla et al., EPFL MMSPG, 2016) used by the ML2020/ML2021 course homework HW3; "
            "a copy with this layout is on Kaggle as 'food11' (search 'food-11').")


# --------------------------------------------------------------------------------------------
# Full tier: presence checks and downloads
# --------------------------------------------------------------------------------------------
def mnist_present(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / name).is_file() for name in _MNIST_RAW_FILES)


def cifar_present(root: Path) -> bool:
    folder = root / "cifar-10-batches-py"
    return all((folder / name).is_file() for name in _CIFAR_FILES)


def food11_present(root: Path, folder_name: str) -> bool:
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


def full_available(what: str, present: bool, class_name: str, root: Path, tier: str,
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


def load_mnist_full(split: str, root: Path, how_to_get: str) -> TensorImageDataset:
    MNIST = _torchvision_class("MNIST")
    source = _wrap_torchvision("MNIST", lambda: MNIST(root=str(root), train=split == "train"),
                               root / "MNIST" / "raw", how_to_get)
    images = source.data.to(torch.uint8).unsqueeze(1).contiguous()
    return TensorImageDataset(
        images, source.targets.long(), MNIST_CLASSES, "full",
        f"MNIST {split} split (real, torchvision): {len(images):,} digits, 1x28x28", source=source)


def load_cifar_full(split: str, root: Path, how_to_get: str) -> TensorImageDataset:
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

