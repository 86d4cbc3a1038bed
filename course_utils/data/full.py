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
           "food11_found", "food11_missing_split", "IMAGE_SUFFIXES",
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

    Files that are not images (``readme.txt``, ``.DS_Store``, ``Thumbs.db``, a sub-folder) are
    skipped and named in :attr:`notes`. Every image's header is read once when the folder is
    opened (PIL's ``Image.open(...).mode``: no pixels are decoded; 0.06 to 0.35 ms per file
    measured), so the number of greyscale, CMYK, palette or RGBA files is known at once: with
    ``convert_to_rgb=True`` (the default, as torchvision's image loaders do) they are
    converted to RGB on reading and :attr:`converted` counts them; with ``False`` the folder
    is refused, listing them.

    Args:
        folder: e.g. ``data_dir()/food-11/training``.
        convert_to_rgb: convert non-RGB files to RGB (default); ``False``: refuse them.
        description: banner line; a default one is written when empty.

    Attributes:
        skipped: names of the files that were skipped as not images.
        converted: how many images are not stored as RGB and are converted on reading.
        modes: ``{PIL mode: count}`` over all images (``"?"``: header unreadable; such a
            file raises, with its name, when it is read).
        notes: one sentence per thing worth telling (skipped files, conversions), also
            appended to :attr:`description`.

    Raises:
        CourseDataError: the folder is missing or holds no images, or holds image files that
            are not named ``<label>_<index>.jpg`` with a label in 0..10 (all offending names
            are listed; the homework's unlabelled ``testing/`` folder is recognised and
            explained), or, with ``convert_to_rgb=False``, images that are not RGB.
    """

    IMAGE_SIZE = (128, 128)
    _NAME = re.compile(r"^(\d+)_(\d+)\.jpe?g$", re.IGNORECASE)

    def __init__(self, folder: str | Path, convert_to_rgb: bool = True, description: str = ""):
        from torchvision import transforms

        self.folder = Path(folder)
        self.convert_to_rgb = convert_to_rgb
        self.tier = "full"
        self.classes = list(FOOD11_CLASSES)
        self.paths, labels, self.skipped = _scan_food11_folder(self.folder)
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.modes, non_rgb = _image_modes(self.paths)
        if non_rgb and not convert_to_rgb:
            raise CourseDataError(_non_rgb_message(non_rgb, self.folder))
        self.converted = len(non_rgb) if convert_to_rgb else 0
        self.notes = []
        if self.skipped:
            self.notes.append(f"skipped {len(self.skipped)} file(s) that are not images: "
                              f"{_first(self.skipped, 5)}")
        if self.converted:
            kinds = ", ".join(f"{n} {_MODE_NAMES.get(m, m)}" for m, n in sorted(
                self.modes.items()) if m not in ("RGB", "?"))
            self.notes.append(f"{self.converted} image(s) not stored as RGB ({kinds}) are "
                              "converted to RGB on reading")
        self.description = description or (
            f"food-11 (real photos) from {self.folder}: {len(self.paths):,} images, "
            f"resized to 3x128x128" + "".join(f"; {note}" for note in self.notes))
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
# What counts as an image file when sorting a folder's contents: anything else (readme.txt,
# .DS_Store, Thumbs.db, sub-folders) is skipped with a note; an image file with a wrong name
# is an error, because its label would be lost.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff",
                            ".ppm", ".pgm", ".jfif"})
_UNLABELLED = re.compile(r"^\d+\.jpe?g$", re.IGNORECASE)  # the homework's testing/ folder
_MODE_NAMES = {"L": "greyscale", "LA": "greyscale+alpha", "1": "black-and-white",
               "P": "palette", "PA": "palette+alpha", "RGBA": "RGBA", "CMYK": "CMYK",
               "I;16": "16-bit greyscale", "I": "32-bit greyscale", "F": "float greyscale",
               "YCbCr": "YCbCr"}


def _first(names: list[str], k: int) -> str:
    return ", ".join(names[:k]) + (f", ... ({len(names) - k} more)" if len(names) > k else "")


def _scan_food11_folder(folder: Path) -> tuple[list[Path], list[int], list[str]]:
    """List ``<label>_<index>.jpg`` files sorted by name, and the non-image entries skipped.

    Returns:
        ``(paths, labels, skipped names)``.

    Raises:
        CourseDataError: the folder is missing, holds image files with other names (all
            listed), or holds no images.
    """
    if not folder.is_dir():
        raise CourseDataError(f"food-11 folder {folder} does not exist. {food11_how_to_get()}")
    bad, paths, labels, skipped = [], [], [], []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        name = entry.name
        # Hidden files (.DS_Store, ._foo.jpg from macOS archives), folders and anything
        # without an image suffix (readme.txt) are not images: skip them.
        if name.startswith(".") or not entry.is_file() or entry.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append(name + ("/" if entry.is_dir() else ""))
            continue
        match = Food11Folder._NAME.match(name)
        label = int(match.group(1)) if match else -1
        if not 0 <= label < len(FOOD11_CLASSES):
            bad.append(name)
            continue
        paths.append(entry)
        labels.append(label)
    if bad and not paths and all(_UNLABELLED.match(n) for n in bad):
        raise CourseDataError(
            f"{folder} holds {len(bad)} images named <index>.jpg ({_first(bad, 3)}) without a "
            "label: this is the food-11 homework's unlabelled testing/ folder, which cannot be "
            "used to train or measure a model. Use the labelled folders: training/ and, as the "
            "held-out split, validation/ (load_dataset('food11', 'validation')).")
    if bad:
        raise CourseDataError(
            f"{len(bad)} image file(s) in {folder} are not named <label>_<index>.jpg with a "
            f"label in 0..{len(FOOD11_CLASSES) - 1}: {_first(bad, 20)}. Move or rename them; "
            "the labels come from the file names, as in the food-11 homework.")
    if not paths:
        found = f" (only {len(skipped)} non-image file(s): {_first(skipped, 5)})" if skipped else ""
        raise CourseDataError(f"food-11 folder {folder} holds no images{found}. "
                              f"{food11_how_to_get()}")
    return paths, labels, skipped


def _image_modes(paths: list[Path]) -> tuple[dict[str, int], list[tuple[Path, str]]]:
    """Each file's PIL mode from its header alone (no decoding): ``({mode: count}, non-RGB)``.

    A file whose header cannot be read counts as ``"?"``; reading it later raises with its name.
    """
    from PIL import Image, UnidentifiedImageError

    modes: dict[str, int] = {}
    non_rgb = []
    for path in paths:
        try:
            with Image.open(path) as image:
                mode = image.mode
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            mode = "?"
        modes[mode] = modes.get(mode, 0) + 1
        if mode not in ("RGB", "?"):
            non_rgb.append((path, mode))
    return modes, non_rgb


def _non_rgb_message(non_rgb: list[tuple[Path, str]], folder: Path) -> str:
    from PIL import Image

    path, mode = non_rgb[0]
    bands = "".join(Image.new(mode, (1, 1)).getbands())
    others = (f" {len(non_rgb) - 1} more file(s) in {folder} are not RGB either: "
              f"{_first([f'{p.name} ({m})' for p, m in non_rgb[1:]], 10)}." if len(non_rgb) > 1 else "")
    return (f"{path} is a {mode} image ({len(bands)} channel(s): {bands}), but the food-11 "
            f"models expect 3-channel RGB.{others} Convert the files, e.g. "
            "PIL.Image.open(path).convert('RGB').save(path), or leave convert_to_rgb=True "
            "(the default) so that load_dataset converts them on the fly.")


def _open_rgb(path: Path, convert_to_rgb: bool = True):
    """Open an image file as RGB, converting other modes unless ``convert_to_rgb`` is False."""
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
    raise CourseDataError(_non_rgb_message([(path, image.mode)], path.parent))


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
    return folder.is_dir() and any(not p.name.startswith(".") and p.suffix.lower() in
                                   IMAGE_SUFFIXES for p in folder.iterdir())


def food11_found(root: Path) -> dict[str, int]:
    """``{folder name: number of image files}`` for every non-empty folder under ``food-11/``."""
    base = root / "food-11"
    if not base.is_dir():
        return {}
    found = {}
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        n = sum(1 for p in folder.iterdir() if not p.name.startswith(".")
                and p.suffix.lower() in IMAGE_SUFFIXES)
        if n:
            found[folder.name] = n
    return found


def food11_missing_split(root: Path, folder_name: str) -> str | None:
    """Why ``food-11/<folder_name>`` cannot be used although some of food-11 is there, or None.

    The food-11 homework's own copy holds ``training/``, ``validation/`` and an unlabelled
    ``testing/`` (files named ``<index>.jpg``), but no ``evaluation/``: its held-out split is
    ``validation/``. The sentence says what was found, what is missing and what to do.
    """
    found = food11_found(root)
    if folder_name in found or not found:
        return None
    base = root / "food-11"
    listing = ", ".join(f"{name}/ ({n:,} images)" for name, n in found.items())
    text = f"Found {base}/ with {listing}, but no {folder_name}/" + (
        " images." if (base / folder_name).is_dir() else ".")
    if folder_name == "evaluation" and "validation" in found:
        homework = " This is the layout of the food-11 homework's copy" if "testing" in found \
            else ""
        text += (f"{homework}: there the labelled held-out split is validation/ (testing/ has "
                 "no labels), while the course's test split is the original Food-11's "
                 "evaluation/. Use "
                 "load_dataset('food11', 'validation') for it, or make it the course's test "
                 f"split with a link: ln -s validation {base}/evaluation (on Windows: "
                 f"mklink /D {base}\\evaluation validation).")
    return text


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

