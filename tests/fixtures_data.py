"""Writers of tiny datasets in the real on-disk formats, for testing the full tier offline.

Each writer puts files exactly where the full tier looks for them under a data root (the
folder that ``COURSE_DATA_DIR`` points at) and returns the arrays it wrote, so that tests can
compare what the loaders return with what is on disk.

* MNIST: the four uncompressed IDX files under ``MNIST/raw/`` (what torchvision's ``MNIST``
  reads after its own download and extraction);
* CIFAR-10: ``cifar-10-batches-py/data_batch_1..5``, ``test_batch`` and ``batches.meta``,
  pickled dicts with the keys of the real archive;
* food-11: folders of ``<label>_<index>.jpg`` JPEGs (also the homework's own copy, with an
  unlabelled ``testing/``; non-RGB images; stray non-image files).
"""
from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

CIFAR_LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
                     "dog", "frog", "horse", "ship", "truck"]


# --------------------------------------------------------------------------------------------
# MNIST
# --------------------------------------------------------------------------------------------
def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format: magic (0, 0, type 0x08 = ubyte, ndim), big-endian int32 dims, raw bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + array.tobytes())


def write_mnist(root: Path, n_train: int = 30, n_test: int = 20, seed: int = 0) -> dict:
    """Write MNIST IDX files under ``root/MNIST/raw``; return the arrays written.

    Returns:
        ``{"train": (images (N, 28, 28) uint8, labels (N,) uint8), "test": (...)}``.
    """
    rng = np.random.default_rng(seed)
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        out[split] = (images, labels)
    return out


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------
def write_cifar10(root: Path, per_batch: int = 4, n_test: int = 6, seed: int = 0) -> dict:
    """Write the CIFAR-10 python batches under ``root/cifar-10-batches-py``.

    Like the real archive, each batch is a pickled dict with ``batch_label``, ``labels``,
    ``data`` (N x 3072 uint8, the red plane then green then blue, row-major) and
    ``filenames``; ``batches.meta`` holds ``label_names``.

    Returns:
        ``{"train": (images (N, 3, 32, 32) uint8, labels list), "test": (...),
        "md5": {file name: md5 of the file written}}``.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    out = {"md5": {}}

    def dump(name: str, obj: dict) -> None:
        with open(folder / name, "wb") as f:
            pickle.dump(obj, f, protocol=2)  # the real batches are Python-2-era pickles
        out["md5"][name] = hashlib.md5((folder / name).read_bytes()).hexdigest()

    batches = [(f"data_batch_{k}", per_batch) for k in range(1, 6)] + [("test_batch", n_test)]
    train_images, train_labels = [], []
    for name, n in batches:
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        dump(name, {"batch_label": f"fixture {name}", "labels": labels,
                    "data": images.reshape(n, 3072),
                    "filenames": [f"img_{name}_{i}.png" for i in range(n)]})
        if name == "test_batch":
            out["test"] = (images, labels)
        else:
            train_images.append(images)
            train_labels += labels
    out["train"] = (np.concatenate(train_images), train_labels)
    dump("batches.meta", {"label_names": CIFAR_LABEL_NAMES, "num_cases_per_batch": per_batch,
                          "num_vis": 3072})
    return out


def patch_cifar10_md5(monkeypatch, md5: dict) -> None:
    """Make torchvision's CIFAR10 expect the fixture's checksums instead of the real ones.

    torchvision verifies the md5 of every batch against the real archive's, so a fixture in
    the real format fails that check by design. Rather than adding a test-only bypass to the
    course's loader, the test swaps the expected checksums on torchvision's class for the
    fixture's own: torchvision's code then runs unchanged, including the md5 verification
    (a corrupted fixture file still fails), and nothing changes outside the test.
    """
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{k}", md5[f"data_batch_{k}"]]
                                                for k in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names",
                                          "md5": md5["batches.meta"]})


# --------------------------------------------------------------------------------------------
# food-11
# --------------------------------------------------------------------------------------------
def write_food11(root: Path, folder: str = "training", labels=(3, 0, 10, 5, 0),
                 size=(40, 30), seed: int = 0) -> list[tuple[str, int, np.ndarray]]:
    """Write small RGB JPEGs named ``<label>_<index>.jpg`` under ``root/food-11/<folder>``.

    Returns:
        ``[(file name, label, RGB array as decoded from the written file)]`` sorted by name.
    """
    rng = np.random.default_rng(seed)
    target = Path(root) / "food-11" / folder
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for index, label in enumerate(labels):
        name = f"{label}_{index}.jpg"
        # smooth content, so JPEG compression keeps it close to what was written
        base = rng.integers(0, 256, (3, 3, 3)).astype(np.uint8)
        image = Image.fromarray(base).resize(size, resample=Image.BILINEAR)
        image.save(target / name, quality=95)
        with Image.open(target / name) as decoded:
            written.append((name, label, np.asarray(decoded.convert("RGB"))))
    return sorted(written)


def write_image(path: Path, mode: str, size=(20, 16), image_format: str = "JPEG") -> Path:
    """Write a small uniform image of PIL ``mode`` ("L", "RGBA", "CMYK", ...) to ``path``.

    JPEG cannot hold RGBA, so an RGBA ``.jpg`` is written as PNG data under that name (as
    happens when a PNG is renamed).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    bands = len(Image.new(mode, (1, 1)).getbands())
    Image.new(mode, size, color=(120,) * bands).save(path, format=image_format)
    return path


def write_image_modes(folder: Path, modes=(("L", "JPEG"), ("CMYK", "JPEG"), ("P", "PNG"),
                                           ("RGBA", "PNG")), first_index: int = 100,
                      label: int = 2) -> list[Path]:
    """Write one ``<label>_<index>.jpg`` per ``(PIL mode, file format)``: the non-RGB files
    real photo collections contain (greyscale and CMYK JPEGs; palette and RGBA PNGs saved
    under a .jpg name, as happens when a PNG is renamed)."""
    paths = []
    for k, (mode, image_format) in enumerate(modes):
        path = Path(folder) / f"{label}_{first_index + k}.jpg"
        if mode == "P":  # a real palette: a few colours, not one grey level
            rgb = Image.fromarray(np.arange(16 * 20 * 3, dtype=np.uint8).reshape(16, 20, 3))
            path.parent.mkdir(parents=True, exist_ok=True)
            rgb.quantize(colors=8).save(path, format=image_format)
        else:
            write_image(path, mode, image_format=image_format)
        paths.append(path)
    return paths


def write_stray_files(folder: Path) -> list[str]:
    """Put the non-image files a downloaded folder often holds next to the images."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "readme.txt").write_text("food-11, downloaded from Kaggle\n")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (folder / "__MACOSX").mkdir(exist_ok=True)
    return [".DS_Store", "Thumbs.db", "__MACOSX/", "readme.txt"]


def write_food11_homework(root: Path, train_labels=(0, 3, 10, 5), validation_labels=(1, 2),
                          n_testing: int = 3, seed: int = 0) -> dict:
    """The food-11 homework's own copy: ``training/`` and ``validation/`` of
    ``<label>_<index>.jpg``, ``testing/`` of unlabelled ``<index>.jpg``, no ``evaluation/``."""
    out = {"training": write_food11(root, "training", train_labels, seed=seed),
           "validation": write_food11(root, "validation", validation_labels, seed=seed + 1)}
    testing = Path(root) / "food-11" / "testing"
    testing.mkdir(parents=True, exist_ok=True)
    for index in range(n_testing):
        write_image(testing / f"{index}.jpg", "RGB")
    out["testing"] = sorted(p.name for p in testing.iterdir())
    return out
