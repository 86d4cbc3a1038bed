"""Benchmark: the course's explanation methods against reference libraries and the floor.

One run times, on the same model and the same inputs,

- ResNet-18 (torchvision, random weights, eval mode, seed 0) on a batch of random images,
  each image's top class as the target:

  * forward only (``torch.no_grad``): the floor of CAM;
  * Grad-CAM: its floor (one forward pass + the backward pass from the target scores down
    to ``layer4``'s output only), :func:`course_utils.explain.grad_cam`, captum's
    ``LayerGradCam`` and pytorch-grad-cam's ``GradCAM``;
  * CAM: :func:`course_utils.explain.cam` and torchcam's ``CAM``;
  * saliency: its floor (one forward pass + the full backward pass to the input),
    :func:`course_utils.explain.saliency_class_score` and captum's ``Saliency``;

- LIME at the source's settings (SLIC n_segments=100, compactness=1, sigma=1;
  1000 samples; random_state 0) on the course's food-11 classifier and four test images:
  its floor (the segmentation + the model's forward passes over every perturbed sample,
  batched), :func:`course_utils.explain.explain_lime` and ``lime`` called the way the
  source calls it (default ``batch_size=10``, a ``classifier_fn`` that returns the softmax
  probabilities of one batch at a time, on the CPU). The course's and the source-style
  explanations are also compared (they must be the same for the same random state).

Timing: :func:`time.perf_counter`; every method runs once as a warm-up, then ``k`` rounds
(5, or 2 with ``quick``) in which every method of a case runs once in turn (interleaved, so
that a change of machine load affects all methods alike); the median of the ``k`` times is
reported. The course's settings apply (:func:`course_utils.config.setup`: seed 0, two
threads, deterministic algorithms); they are restored when :func:`run` returns.

Ratios: each method / the floor of its case, and course / reference (below 1: the course is
faster).

``course bench [--quick] [--out benchmarks/RESULTS.md]`` runs it and writes the table.
The reference libraries (captum, grad-cam, torchcam: the ``test`` extra) must be installed.
"""
from __future__ import annotations

import gc
import math
import os
import platform
import random
import statistics
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from course_utils import config
from course_utils import explain as ex
from course_utils.hooks import frozen

DEFAULT_OUT = Path("benchmarks") / "RESULTS.md"

#: Goals the course's methods are held to (see :func:`goal_checks`).
GOALS = {
    "grad_cam_vs_floor": 1.1,
    "cam_vs_floor": 1.1,
    "grad_cam_speedup_vs_pytorch_grad_cam": 2.5,
    "saliency_vs_floor": 1.1,
    "lime_vs_floor": 1.15,
    "lime_speedup_vs_source": 1.25,
}

FULL = {"batch": 16, "size": 224, "lime_samples": 1000, "lime_images": [21, 5, 1, 0],
        "repeats": 5, "floor_calibration": 64}
QUICK = {"batch": 2, "size": 64, "lime_samples": 100, "lime_images": [21],
         "repeats": 2, "floor_calibration": 16}

LIME_SEGMENTS = {"n_segments": 100, "compactness": 1, "sigma": 1}
LIME_STATE = 0
#: Largest difference of a LIME weight between the course's and the source-style explanation.
LIME_ATOL = 1e-8
#: Batchings the LIME floor tries (images per forward pass; memory layout): it keeps the
#: fastest on this machine, since the cache, not the arithmetic, decides which is quickest.
FLOOR_BATCHES = (1, 4, 10, 16, 32, 64)
FLOOR_LAYOUTS = {"NCHW": torch.contiguous_format, "channels_last": torch.channels_last}


# --------------------------------------------------------------------------- timing

def _say(verbose: bool, *args) -> None:
    if verbose:
        print(*args, flush=True)


def _time_interleaved(methods: dict[str, Callable[[], Any]], repeats: int,
                      verbose: bool = False) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Warm every method up once, then time ``repeats`` rounds of all of them in turn.

    Returns ``({name: [seconds per round]}, {name: what the last call returned})``.
    """
    times: dict[str, list[float]] = {name: [] for name in methods}
    last: dict[str, Any] = {}
    for round_ in range(repeats + 1):  # round 0 is the warm-up
        for name, fn in methods.items():
            last.pop(name, None)
            gc.collect()
            t0 = time.perf_counter()
            out = fn()
            elapsed = time.perf_counter() - t0
            last[name] = out
            if round_:
                times[name].append(elapsed)
            _say(verbose, f"  {'warm-up' if not round_ else f'round {round_}/{repeats}'}: "
                          f"{name}: {elapsed * 1e3:.1f} ms")
    return times, last


@contextmanager
def _course_settings(seed: int = 0, threads: int = 2) -> Iterator[None]:
    """:func:`config.setup` for the block; every global it changes is given back afterwards."""
    saved = {
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "warn_only": torch.is_deterministic_algorithms_warn_only_enabled(),
        "fill": torch.utils.deterministic.fill_uninitialized_memory,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cublas": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "torch_rng": torch.get_rng_state(),
        "np_rng": np.random.get_state(),
        "py_rng": random.getstate(),
    }
    config.setup(seed=seed, threads=threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved["threads"])
        torch.use_deterministic_algorithms(saved["deterministic"], warn_only=saved["warn_only"])
        torch.utils.deterministic.fill_uninitialized_memory = saved["fill"]
        torch.backends.cudnn.benchmark = saved["cudnn_benchmark"]
        if saved["cublas"] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved["cublas"]
        torch.set_rng_state(saved["torch_rng"])
        np.random.set_state(saved["np_rng"])
        random.setstate(saved["py_rng"])


@contextmanager
def _lime_quiet() -> Iterator[None]:
    """No tqdm bar from LIME's sample loop, for every LIME call alike (course's and source-style;
    LIME has no switch for it), restored afterwards."""
    from lime import lime_image

    original = lime_image.tqdm
    lime_image.tqdm = lambda iterable, *args, **kwargs: iterable
    try:
        yield
    finally:
        lime_image.tqdm = original


def _row(case: str, method: str, role: str, times: list[float], **extra) -> dict:
    return {"case": case, "method": method, "role": role,
            "median_s": statistics.median(times), "min_s": min(times), "times_s": list(times),
            "vs_floor": None, "vs_floor_min": None, "course_vs_reference": None,
            "course_vs_reference_min": None, **extra}


def _add_ratios(rows: list[dict]) -> list[dict]:
    """Fill ``vs_floor`` (method / floor of its case) and ``course_vs_reference``, each from the
    medians and (``*_min``) from the fastest rounds, which move less with the machine's load."""
    for case in dict.fromkeys(r["case"] for r in rows):
        group = [r for r in rows if r["case"] == case]
        floor = next(r for r in group if r["role"] == "floor")
        course = next((r for r in group if r["role"] == "course"), None)
        for r in group:
            r["vs_floor"] = r["median_s"] / floor["median_s"]
            r["vs_floor_min"] = r["min_s"] / floor["min_s"]
            r["floor"] = floor["method"]
            if r["role"] == "reference" and course is not None:
                r["course_vs_reference"] = course["median_s"] / r["median_s"]
                r["course_vs_reference_min"] = course["min_s"] / r["min_s"]
    return rows


def _close(a: Any, b: Any, rtol: float = 1e-4) -> bool:
    """Same maps to float32 rounding (atol relative to the map's scale)."""
    a, b = torch.as_tensor(a).detach().float(), torch.as_tensor(b).detach().float()
    scale = float(b.abs().max().clamp_min(1e-30))
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=rtol * scale))


# --------------------------------------------------------------------------- ResNet-18

@dataclass
class _ResNetCase:
    """What every ResNet-18 method is timed on: the model, a batch and each image's top class."""
    model: torch.nn.Module
    x: torch.Tensor
    t: torch.Tensor
    x_captum: torch.Tensor  # captum's Saliency wants an input that requires a gradient

    @property
    def t_list(self) -> list[int]:
        return self.t.tolist()


def _resnet_case(batch: int, size: int) -> _ResNetCase:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    x = torch.rand(batch, 3, size, size)
    with torch.no_grad():
        t = model(x).argmax(dim=1)  # each image's top class
    return _ResNetCase(model, x, t, x.clone().requires_grad_(True))


def _forward_only(c: _ResNetCase):
    with torch.no_grad():
        return c.model(c.x)


def _grad_cam_floor(c: _ResNetCase):
    # The least any Grad-CAM must do: one forward pass, and a backward pass from the
    # target scores down to layer4's output only. The weights are frozen and the image
    # needs no gradient, so autograd records nothing before layer4: the hook hands on a
    # leaf copy of the layer's output, and only avgpool + fc are differentiated.
    acts = []

    def hook(module, inputs, output):
        leaf = output.detach().requires_grad_(True)
        acts.append(leaf)
        return leaf

    handle = c.model.layer4.register_forward_hook(hook)
    try:
        with frozen(c.model):
            logits = c.model(c.x)
            score = logits.gather(1, c.t[:, None]).sum()
            (grads,) = torch.autograd.grad(score, acts[0])
    finally:
        handle.remove()
    return grads


def _course_grad_cam(c: _ResNetCase):
    return ex.grad_cam(c.model, c.x, c.t, layer="layer4")


def _captum_grad_cam(c: _ResNetCase):
    from captum.attr import LayerGradCam

    return LayerGradCam(c.model, c.model.layer4).attribute(c.x, target=c.t,
                                                           relu_attributions=True)[:, 0]


def _pgc_grad_cam(c: _ResNetCase):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    targets = [ClassifierOutputTarget(k) for k in c.t_list]
    with GradCAM(model=c.model, target_layers=[c.model.layer4]) as cam:
        out = cam(input_tensor=c.x, targets=targets)
    c.model.zero_grad(set_to_none=True)  # its loss.backward() filled every param.grad
    return out


def _course_cam(c: _ResNetCase):
    return ex.cam(c.model, c.x, c.t, "layer4", "fc")


def _torchcam_cam(c: _ResNetCase):
    from torchcam.methods import CAM

    with CAM(c.model, "layer4", "fc") as extractor:
        with torch.no_grad():  # torchcam's CAM reads hooked activations: no gradients
            c.model(c.x)
        return extractor(class_idx=c.t_list, normalized=False)[0]


def _saliency_floor(c: _ResNetCase):
    # One forward pass + the full backward pass to the input (no weight gradients).
    with frozen(c.model):
        xg = c.x.detach().requires_grad_(True)
        logits = c.model(xg)
        score = logits.gather(1, c.t[:, None]).sum()
        (grad,) = torch.autograd.grad(score, xg)
    return grad


def _course_saliency(c: _ResNetCase):
    return ex.saliency_class_score(c.model, c.x, c.t)


def _captum_saliency(c: _ResNetCase):
    from captum.attr import Saliency

    return Saliency(c.model).attribute(c.x_captum, target=c.t, abs=True).amax(dim=1)


#: The ResNet-18 methods, timed in this order (interleaved, one round after another).
RESNET_METHODS: dict[str, Callable[[_ResNetCase], Any]] = {
    "forward": _forward_only,
    "grad_cam_floor": _grad_cam_floor, "course_grad_cam": _course_grad_cam,
    "captum_grad_cam": _captum_grad_cam, "pgc_grad_cam": _pgc_grad_cam,
    "course_cam": _course_cam, "torchcam_cam": _torchcam_cam,
    "saliency_floor": _saliency_floor, "course_saliency": _course_saliency,
    "captum_saliency": _captum_saliency,
}

#: The table's rows: (case, label, role, method, the course's method it must agree with).
#: pytorch-grad-cam resizes and min-max normalises its maps: not compared here
#: (tests/test_reference_crosscheck.py does).
RESNET_ROWS = [
    ("Grad-CAM", "floor: forward + backward from the scores to layer4", "floor", "grad_cam_floor", None),
    ("Grad-CAM", "course explain.grad_cam", "course", "course_grad_cam", None),
    ("Grad-CAM", "captum LayerGradCam", "reference", "captum_grad_cam", "course_grad_cam"),
    ("Grad-CAM", "pytorch-grad-cam GradCAM (+ resize, min-max)", "reference", "pgc_grad_cam", None),
    ("CAM", "forward only (no_grad) = CAM floor", "floor", "forward", None),
    ("CAM", "course explain.cam", "course", "course_cam", None),
    ("CAM", "torchcam CAM", "reference", "torchcam_cam", "course_cam"),
    ("saliency", "floor: forward + full backward to the input", "floor", "saliency_floor", None),
    ("saliency", "course explain.saliency_class_score", "course", "course_saliency", None),
    ("saliency", "captum Saliency", "reference", "captum_saliency", "course_saliency"),
]


def _resnet_cases(batch: int, size: int, repeats: int, verbose: bool) -> list[dict]:
    c = _resnet_case(batch, size)
    methods = {name: (lambda fn=fn: fn(c)) for name, fn in RESNET_METHODS.items()}
    _say(verbose, f"ResNet-18, {batch} images {size} x {size}, {repeats} rounds")
    times, last = _time_interleaved(methods, repeats, verbose)
    # Same results, so that the same work is being timed.
    setting = f"ResNet-18, {batch} x 3 x {size} x {size}"
    rows = []
    for case, label, role, method, agrees_with in RESNET_ROWS:
        extra = {} if agrees_with is None else \
            {"agrees_with_course": _close(last[agrees_with], last[method])}
        rows.append(_row(f"{case} ({setting})", label, role, times[method], **extra))
    return rows


# --------------------------------------------------------------------------- LIME

def _lime_weights(explanation, label: int) -> np.ndarray:
    w = np.zeros(len(np.unique(explanation.segments)))
    for k, weight in explanation.local_exp[label]:
        w[k] = weight
    return w


def _perturbed_batches(image: np.ndarray, segments: np.ndarray, num_samples: int,
                       random_state: int) -> torch.Tensor:
    """The perturbed images LIME builds (same draws as ``LimeImageExplainer(random_state)``),
    as one float32 (num_samples, C, H, W) tensor (NHWC in memory, as LIME's arrays are):
    the floor's input, made before timing."""
    d = int(np.unique(segments).size)
    z = np.random.RandomState(random_state).randint(0, 2, num_samples * d).reshape(num_samples, d)
    z[0] = 1
    fudged = image.copy()
    for s in range(d):  # hide_color=None: a switched-off superpixel takes its mean colour
        fudged[segments == s] = image[segments == s].mean(axis=0)
    off = z[:, segments] == 0
    images = np.where(off[..., None], fudged, image).astype(np.float32)
    return torch.from_numpy(images).permute(0, 3, 1, 2)


def _fastest_batching(model, sample: torch.Tensor) -> tuple[int, str, dict]:
    """Time the forward passes over ``sample`` for every batch size and memory layout in
    :data:`FLOOR_BATCHES` x :data:`FLOOR_LAYOUTS` (best of 2); return the fastest
    ``(batch size, layout name, {(batch, layout): seconds per image})``."""
    per_image = {}
    with torch.no_grad():
        for layout, fmt in FLOOR_LAYOUTS.items():
            xs = sample.contiguous(memory_format=fmt)
            model(xs[:FLOOR_BATCHES[-1]])  # warm-up for this layout
            last = 0
            for bs in FLOOR_BATCHES:
                if last >= len(xs):  # a larger batch than the sample: the same passes again
                    break
                last = bs
                best = math.inf
                for _ in range(2):
                    t0 = time.perf_counter()
                    for chunk in xs.split(bs):
                        model(chunk)
                    best = min(best, time.perf_counter() - t0)
                per_image[bs, layout] = best / len(xs)
    bs, layout = min(per_image, key=per_image.get)
    return bs, layout, per_image


def _lime_case(num_samples: int, indices: list[int], repeats: int, verbose: bool,
               calibration: int = 64) -> list[dict]:
    from lime import lime_image
    from skimage.segmentation import slic

    from course_utils import data, pretrained

    model, _ = pretrained.load_model("food11_classifier", tier="offline")
    model.eval()
    images, _labels = data.load_dataset("food11", "test", tier="offline").getbatch(indices)
    with torch.no_grad():
        targets = model(images).argmax(dim=1).tolist()  # each image's top class
    images_hwc = images.permute(0, 2, 3, 1).numpy().astype(np.float64)  # what LIME eats

    segment = ex.slic_segmenter(**LIME_SEGMENTS)
    perturbed = [_perturbed_batches(im, segment(im), num_samples, LIME_STATE) for im in images_hwc]
    floor_batch, floor_layout, per_image = _fastest_batching(model, perturbed[0][:calibration])
    perturbed = [p.contiguous(memory_format=FLOOR_LAYOUTS[floor_layout]) for p in perturbed]
    _say(verbose, "LIME floor: forward time per image by (batch, layout): " + ", ".join(
        f"{bs} {layout} {t * 1e3:.1f} ms" for (bs, layout), t in per_image.items())
        + f"; fastest: batches of {floor_batch}, {floor_layout}")

    def floor():
        # The segmentation + the model's forward passes over every perturbed sample, in the
        # fastest batching found above.
        with torch.no_grad():
            for im, batch in zip(images_hwc, perturbed):
                segment(im)
                for chunk in batch.split(floor_batch):
                    model(chunk)

    def course():
        return [ex.explain_lime(model, im, target=c, num_samples=num_samples,
                                random_state=LIME_STATE, segmentation_fn=segment)
                for im, c in zip(images_hwc, targets)]

    # The source's way: its segmentation_fn (with labels from 0, which LIME needs: see
    # explain.slic_segmenter), a classifier_fn that runs one batch at a time on the CPU and
    # returns probabilities, LIME's defaults otherwise (batch_size=10, top_labels=5,
    # hide_color=None), then get_image_and_mask for the class.
    def segmentation(image):
        return slic(image, start_label=0, **LIME_SEGMENTS)

    def source_classifier_fn(batch):
        model.eval()
        x = torch.FloatTensor(batch).permute(0, 3, 1, 2)
        with torch.no_grad():
            logits = model(x)
        return F.softmax(logits.double(), dim=1).numpy()

    def source_style():
        out = []
        for im, c in zip(images_hwc, targets):
            # random_state: the same generator as the course's; random_seed: without it LIME
            # draws one number from that generator (for a segmentation it does not use here)
            # before drawing the samples, which shifts every sample.
            explainer = lime_image.LimeImageExplainer(random_state=LIME_STATE)
            explanation = explainer.explain_instance(
                im, source_classifier_fn, segmentation_fn=segmentation,
                num_samples=num_samples, random_seed=LIME_STATE)
            out.append((explanation, explanation.get_image_and_mask(
                c, positive_only=False, hide_rest=False, num_features=11, min_weight=0.05), c))
        return out

    n = len(indices)
    _say(verbose, f"LIME, {n} food-11 image(s), {num_samples} samples each, {repeats} rounds")
    with _lime_quiet():
        times, last = _time_interleaved(
            {"floor": floor, "course": course, "source": source_style}, repeats, verbose)

    # Same explanation: the same weight per superpixel (to 1e-8: the two batch the samples
    # differently, 64 vs 10, and a convolution's last float32 bits may depend on the batch),
    # the same 11 top superpixels in the same order, the same mask.
    same, max_diff = True, 0.0
    for result, (exp_s, (_, mask_s), label_s) in zip(last["course"], last["source"], strict=True):
        exp_c, label_c = result.explanation, result.label
        w_c, w_s = _lime_weights(exp_c, label_c), _lime_weights(exp_s, label_s)
        top_c = [k for k, _ in exp_c.local_exp[label_c]][:11]
        top_s = [k for k, _ in exp_s.local_exp[label_s]][:11]
        max_diff = max(max_diff, float(np.abs(w_c - w_s).max()))
        same &= bool(label_c == label_s and w_c.shape == w_s.shape
                     and np.allclose(w_c, w_s, rtol=0, atol=LIME_ATOL)
                     and top_c == top_s and np.array_equal(result.mask, mask_s))
    _say(verbose, f"LIME: course and source-style explanations are the same: {same} "
                  f"(largest weight difference {max_diff:.2e})")

    case = f"LIME (food-11 classifier, {n} image(s) 3 x 128 x 128, {num_samples} samples each)"
    extra = {"same_explanation": same, "max_weight_difference": max_diff}
    return [
        _row(case, f"floor: SLIC + forward passes over the samples (fastest batching: "
             f"{floor_batch} per pass, {floor_layout})", "floor", times["floor"],
             floor_batching={f"{bs} {layout}": t for (bs, layout), t in per_image.items()}),
        _row(case, "course explain.explain_lime", "course", times["course"], **extra),
        _row(case, "lime, source-style (batch_size=10, softmax classifier_fn)", "reference",
             times["source"], **extra),
    ]


# --------------------------------------------------------------------------- run

def run(quick: bool = False, verbose: bool = True, threads: int = 2) -> list[dict]:
    """Time every method; return one dict per table row.

    Each row has ``case``, ``method``, ``role`` (``floor``, ``course`` or ``reference``),
    ``median_s``, ``min_s``, ``times_s`` (one per round), ``floor`` (the floor's method),
    ``vs_floor`` (median / the floor's median) and, for references, ``course_vs_reference``
    (the course's median / this one's). The LIME rows also carry ``same_explanation``.

    Args:
        quick: a batch of 2 images at 64 x 64, one LIME image with 100 samples, 2 rounds:
            about half a minute with one thread, for the tests (its timings mean little).
        verbose: print progress.
        threads: torch threads (the course's setting is 2). On a 2-core machine that other
            jobs keep busy, 2 threads under ``nice`` spend most of their time waiting for
            each other at OpenMP barriers (tens of times slower); 1 thread then measures
            the methods rather than the waiting.
    """
    settings = QUICK if quick else FULL
    with _course_settings(seed=0, threads=threads):
        rows = _resnet_cases(settings["batch"], settings["size"], settings["repeats"], verbose)
        rows += _lime_case(settings["lime_samples"], settings["lime_images"],
                           settings["repeats"], verbose, settings["floor_calibration"])
    return _add_ratios(rows)


def _find(rows: list[dict], case_start: str, role: str, method_start: str = "") -> dict | None:
    for r in rows:
        if r["case"].startswith(case_start) and r["role"] == role and r["method"].startswith(method_start):
            return r
    return None


def goal_checks(rows: list[dict]) -> list[tuple[str, float, str, bool]]:
    """``(goal, measured value, target, met)`` for each of the course's speed goals."""
    checks = []
    course_gc = _find(rows, "Grad-CAM", "course")
    pgc = _find(rows, "Grad-CAM", "reference", "pytorch-grad-cam")
    for label, case, key in (("Grad-CAM / its floor", "Grad-CAM", "grad_cam_vs_floor"),
                             ("CAM / its floor", "CAM", "cam_vs_floor"),
                             ("saliency / forward + backward", "saliency", "saliency_vs_floor"),
                             ("LIME / its floor", "LIME", "lime_vs_floor")):
        row = _find(rows, case, "course")
        if row is not None:
            checks.append((label, row["vs_floor"], f"<= {GOALS[key]}", row["vs_floor"] <= GOALS[key]))
    if course_gc is not None and pgc is not None:
        speedup = pgc["median_s"] / course_gc["median_s"]
        goal = GOALS["grad_cam_speedup_vs_pytorch_grad_cam"]
        checks.insert(1, ("pytorch-grad-cam / course Grad-CAM (speed-up)", speedup, f">= {goal}",
                          speedup >= goal))
    lime_course, lime_ref = _find(rows, "LIME", "course"), _find(rows, "LIME", "reference")
    if lime_course is not None and lime_ref is not None:
        speedup = lime_ref["median_s"] / lime_course["median_s"]
        goal = GOALS["lime_speedup_vs_source"]
        checks.append(("source-style lime / course LIME (speed-up)", speedup, f">= {goal}",
                       speedup >= goal))
    return checks


# --------------------------------------------------------------------------- report

def machine_info() -> dict:
    """CPU model (from /proc/cpuinfo), logical CPUs, torch threads and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "numpy": np.__version__}
    for name, module in (("torchvision", "torchvision"), ("captum", "captum"),
                         ("grad-cam", "pytorch_grad_cam"), ("torchcam", "torchcam"),
                         ("lime", "lime"), ("scikit-image", "skimage")):
        try:
            from importlib.metadata import version
            versions[name] = version(name)
        except Exception:  # noqa: BLE001  (not installed, or no metadata)
            versions[name] = getattr(sys.modules.get(module), "__version__", "?")
    try:
        load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = "n/a"
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "versions": versions, "load_average": load}


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def _ratio(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def render_markdown(rows: list[dict], info: dict, *, quick: bool, wall_s: float | None = None,
                    threads: int = 2) -> str:
    """The results as Markdown: machine, table of times and ratios, goal checks."""
    settings = QUICK if quick else FULL
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if k != "torch")
    lines = [
        "# Explanation methods: course vs reference libraries vs the floor",
        "",
        f"Written by `course bench{' --quick' if quick else ''}` "
        f"({time.strftime('%Y-%m-%d %H:%M %Z')}).",
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']} ({info['logical_cpus']} logical CPUs)",
        f"- torch threads: {threads} (`config.setup(seed=0, threads={threads})`: deterministic "
        "algorithms on)",
        f"- torch {info['versions']['torch']}; {versions}",
        f"- platform: {info['platform']}",
        f"- load average (1 / 5 / 15 min) at the end: {info['load_average']} "
        "(the machine may be shared: ratios between methods timed in the same rounds are "
        "more reliable than absolute times)",
    ]
    if wall_s is not None:
        lines.append(f"- wall time of the whole run: {wall_s:.0f} s")
    lines += [
        "",
        "## Method",
        "",
        f"- Every method runs once as a warm-up, then {settings['repeats']} rounds in which each "
        "method of a case runs once in turn; times are the median (and minimum) of the rounds, "
        "`time.perf_counter`, in milliseconds.",
        "- `/ floor`: the method's median / the median of its case's floor. "
        "`course / ref`: the course's median / this reference's (below 1: the course is faster). "
        "The `min` columns use the fastest round of each instead: on a shared machine they move "
        "less from run to run than the medians.",
        "- Grad-CAM floor: one forward pass and the backward pass from the target scores down to "
        "`layer4`'s output only (frozen weights, no input gradient: autograd records nothing "
        "before `layer4`). CAM floor: one forward pass under `no_grad`. Saliency floor: one "
        "forward pass + the full backward pass to the input (no weight gradients).",
        "- LIME floor: SLIC (n_segments=100, compactness=1, sigma=1) + the model's forward passes "
        "over all perturbed samples, prepared beforehand as float32 tensors, in the batch size "
        f"and memory layout that were fastest on this machine (tried: batches of "
        f"{', '.join(map(str, FLOOR_BATCHES))}; {' and '.join(FLOOR_LAYOUTS)}; see below). "
        "Source-style lime: `LimeImageExplainer(random_state=0).explain_instance(image, "
        "classifier_fn, segmentation_fn=slic(..., start_label=0), num_samples=..., "
        "random_seed=0)` with LIME's defaults (batch_size=10, top_labels=5, hide_color=None), "
        "`classifier_fn` = softmax of one batch at a time on the CPU under `no_grad`, then "
        "`get_image_and_mask`. Targets: each image's top class.",
        "- pytorch-grad-cam also resizes its maps to the input size and min-max normalises them "
        "(it has no switch to skip that), and its `loss.backward()` computes every weight's "
        "gradient.",
        "",
        "## Results",
        "",
        "| case | method | role | median (ms) | min (ms) | / floor | / floor, min | "
        "course / ref | course / ref, min |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['case']} | {r['method']} | {r['role']} | {_ms(r['median_s'])} | "
                     f"{_ms(r['min_s'])} | {_ratio(r['vs_floor'])} | {_ratio(r['vs_floor_min'])} | "
                     f"{_ratio(r['course_vs_reference'])} | {_ratio(r['course_vs_reference_min'])} |")
    agreements = [f"{r['method']}: {'yes' if r['agrees_with_course'] else 'NO'}"
                  for r in rows if "agrees_with_course" in r]
    lime = _find(rows, "LIME", "course")
    lines += ["", "## Checks", ""]
    if agreements:
        lines.append("- Same maps as the course's method (rtol 1e-4): " + "; ".join(agreements) + ".")
    floor = _find(rows, "LIME", "floor")
    if floor is not None and floor.get("floor_batching"):
        lines.append("- LIME floor, forward time per image by batch size and layout (best of 2, "
                     f"{settings['floor_calibration']} samples): " + ", ".join(f"{k} {v * 1e3:.1f} ms"
                                                 for k, v in floor["floor_batching"].items())
                     + ".")
    if lime is not None:
        lines.append(f"- LIME: the course's and the source-style explanations are the same "
                     f"(weights to {LIME_ATOL:g}, ranking, mask): "
                     f"**{'yes' if lime['same_explanation'] else 'NO'}** "
                     f"(largest weight difference {lime['max_weight_difference']:.2e}).")
    lines += ["", "## Goals", "", "| goal | measured | target | met |", "|---|---:|---:|---|"]
    for label, value, target, met in goal_checks(rows):
        lines.append(f"| {label} | {value:.2f}x | {target} | {'yes' if met else '**no**'} |")
    if quick:
        lines += ["", "_Quick mode: tiny inputs and 2 rounds; these timings say little._"]
    return "\n".join(lines) + "\n"


def write_results(rows: list[dict], out: str | Path = DEFAULT_OUT, *, quick: bool = False,
                  wall_s: float | None = None, threads: int = 2) -> Path:
    """Write :func:`render_markdown`'s text to ``out`` (folders created); return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_markdown(rows, machine_info(), quick=quick, wall_s=wall_s,
                                   threads=threads), encoding="utf-8")
    return out


def bench(quick: bool = False, out: str | Path = DEFAULT_OUT, threads: int = 2) -> int:
    """Run, print the table, write ``out``; exit status 1 if the LIME explanations differ."""
    t0 = time.perf_counter()
    rows = run(quick=quick, threads=threads)
    wall = time.perf_counter() - t0
    path = write_results(rows, out, quick=quick, wall_s=wall, threads=threads)
    text = path.read_text(encoding="utf-8")
    print(text[text.index("## Results"):])
    print(f"written to {path} (wall time {wall:.0f} s)")
    same = all(r.get("same_explanation", True) for r in rows)
    if not same:
        print("ERROR: the course's and the source-style LIME explanations differ", file=sys.stderr)
    return 0 if same else 1
