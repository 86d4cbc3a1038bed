"""One call at the top of each lesson: ``lesson = lessons.start("04")``.

It decides the lesson's tier **once**, from what is present, loads the data, the model and the
images the lesson looks at in that tier, and prints what it used. The rule:

* ``COURSE_DATA=offline``: the offline tier; the banner lists what the full tier would need.
* ``COURSE_DATA=auto`` (the default): the full tier only if *everything* the lesson needs for it
  is present (data **and** the matching weights); otherwise the offline tier as a whole, and the
  banner says what was found, what is missing, and the one command or download that adds it.
  Nothing is ever downloaded under ``auto``.
* ``COURSE_DATA=full``: the full tier; if something is missing, one error lists all of it.

Each lesson's needs are the rows of :data:`LESSON_NEEDS`; what each need is, how to check it and
how to get it are the rows of :func:`needs`. The per-lesson loaders below hold each lesson's
choices of images (the sources' own in the full tier, fixed rules on the stand-in offline), so
that the notebooks show the method, not the plumbing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Callable

import torch

from . import config, data, pretrained
from .checkpoints import MANIFEST
from .models import IMAGENET_WEIGHTS, imagenet_model, imagenet_weights_file

__all__ = ["LESSON_NEEDS", "Need", "Decision", "Lesson", "needs", "decide", "start"]


@dataclass(frozen=True)
class Need:
    """One thing the full tier of a lesson needs."""
    key: str
    what: str                     # e.g. "the CIFAR-10 data set"
    present: Callable[[], bool]
    how: str                      # the one command or download that provides it
    cost: str                     # what getting it costs (download size, training time)


def _full_checkpoint_listed(name: str) -> bool:
    manifest = config.checkpoint_dir() / "full" / MANIFEST
    try:
        return name in json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def _cost(key: str, default: str) -> str:
    """What getting a resource costs, in words, from the measured table in ``data/costs.py``."""
    from .data import costs

    if key.startswith("train:"):
        row = costs.TRAINING.get(key.split(":", 1)[1])
        if row is None:
            return default
        return (f"about {row['cpu_min_recipe']:.0f} min on a 2-core CPU, extrapolated from "
                f"{row['batches_timed']} timed batches")
    row = costs.DOWNLOADS.get(key)
    if row is None or row.get("download_mb") is None:
        return default
    return f"{row['download_mb']:.0f} MB download"


def needs() -> dict[str, Need]:
    """Every resource a lesson's full tier can need, keyed by name (paths read now)."""
    from .data import full

    root = config.data_dir()
    table = [
        Need("mnist", "the MNIST files", lambda: full.mnist_present(root),
             f"python -c \"import torchvision; torchvision.datasets.MNIST('{root}', "
             "download=True)\" on a machine with internet",
             _cost("mnist", "a download")),
        Need("cifar10", "the CIFAR-10 python batches", lambda: full.cifar_present(root),
             f"download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and unpack it "
             f"in {root}/", _cost("cifar10", "a download")),
        # The lessons look at four training photos; the held-out accuracy they print comes from the
        # checkpoint's manifest, so the homework's own copy (no evaluation/) is enough.
        Need("food11", "the food-11 training photos",
             lambda: full.food11_present(root, "training"),
             f"place food-11 by hand in {root / 'food-11'}/ (see data/README.md)",
             _cost("food11", "a manual download (Kaggle 'food11')")),
        Need("imagenet_photos", "foolbox's 20 labelled ImageNet photographs",
             lambda: data.sources.imagenet_samples_dir() is not None,
             "pip install foolbox==3.3.4 (it is in requirements-student.lock)",
             "a 1.7 MB wheel"),
    ]
    for name, (_, weights) in IMAGENET_WEIGHTS.items():
        path = imagenet_weights_file(name)
        table.append(Need(
            f"weights:{name}", f"torchvision's ImageNet weights of {name}",
            lambda path=path: path.is_file(),
            f"python -c \"import torchvision; torchvision.models.{name}(weights='{weights.name}')\" "
            f"on a machine with internet (it saves {path.name} in the torch hub cache)",
            _cost(name, f"{weights.meta['_file_size']:.0f} MiB download")))
    for name, dataset, alternative in (
            ("simple_cnn", "CIFAR-10", ""),
            ("food11_classifier", "food-11",
             ", or `course import-homework-checkpoint checkpoint.pth` for the homework's own")):
        table.append(Need(
            f"checkpoint:{name}", f"a {name} checkpoint trained on {dataset}",
            lambda name=name: _full_checkpoint_listed(name),
            f"`course train {name} --tier full`{alternative}",
            _cost(f"train:{name}", "training on a CPU")))
    return {n.key: n for n in table}


#: What each lesson's full tier needs. 01 reads only shapes: it is the same in every tier.
LESSON_NEEDS: dict[str, tuple[str, ...]] = {
    "01": (),
    "02": ("mnist",),
    "03": ("mnist", "weights:squeezenet1_1", "imagenet_photos"),
    "04": ("food11", "checkpoint:food11_classifier"),
    "05": ("weights:resnet18", "imagenet_photos"),
    "06": ("weights:vgg19", "imagenet_photos", "cifar10", "checkpoint:simple_cnn",
           "weights:vgg16"),
    "07": ("food11", "checkpoint:food11_classifier"),
    "08": ("weights:resnet18", "imagenet_photos"),
}


@dataclass
class Decision:
    """The tier a lesson runs in, and why."""
    lesson: str
    requested: str
    tier: str
    found: list[Need] = field(default_factory=list)
    missing: list[Need] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The banner's first lines: the tier and why (offline: no machine paths)."""
        wanted = LESSON_NEEDS[self.lesson]
        if not wanted:
            return [f"tier: any (COURSE_DATA={self.requested}): this lesson loads no data set "
                    "and no trained weights, so every tier prints the same"]
        if self.tier == "full":
            return [f"tier: full (COURSE_DATA={self.requested}): "
                    + "; ".join(n.what for n in self.found) + " are here"]
        if self.requested == "offline":
            return ["tier: offline (COURSE_DATA=offline); the full tier would use "
                    + "; ".join(needs()[k].what for k in wanted) + " (README: the full tier)"]
        lines = ["tier: offline (COURSE_DATA=auto, and the full tier needs something missing)"]
        if self.found:
            lines.append("found: " + "; ".join(n.what for n in self.found))
        lines += [f"missing: {n.what}: {n.how} ({n.cost})" for n in self.missing]
        return lines


def decide(lesson: str, requested: str | None = None) -> Decision:
    """Decide a lesson's tier once from ``COURSE_DATA`` and what is present.

    Raises:
        KeyError: an unknown lesson number.
        config.CourseDataError: ``COURSE_DATA=full`` and something the full tier needs is
            missing; the message lists every missing piece and how to get it.
    """
    if lesson not in LESSON_NEEDS:
        raise KeyError(f"unknown lesson {lesson!r}; the lessons are {', '.join(LESSON_NEEDS)}")
    requested = config.requested_tier() if requested is None else requested
    if requested not in config.TIERS:
        raise ValueError(f"tier must be one of {config.TIERS}, got {requested!r}")
    if requested == "offline" or not LESSON_NEEDS[lesson]:
        return Decision(lesson, requested, "offline")
    table = needs()
    wanted = [table[k] for k in LESSON_NEEDS[lesson]]
    found = [n for n in wanted if n.present()]
    missing = [n for n in wanted if n not in found]
    if missing and requested == "full":
        raise config.CourseDataError(
            f"COURSE_DATA=full, but lesson {lesson}'s full tier needs what is not here:\n"
            + "\n".join(f"- {n.what}: {n.how} ({n.cost})" for n in missing)
            + "\nOr unset COURSE_DATA (auto, the default) to run the lesson offline.")
    return Decision(lesson, requested, "offline" if missing else "full", found, missing)


class Lesson(SimpleNamespace):
    """What :func:`start` loaded: ``lesson``, ``tier``, ``device``, ``decision``, ``banner``
    and the lesson's own fields (see its loader below)."""


# --------------------------------------------------------------------------------------------
# The lessons' own choices, per tier. Each loader returns (fields, banner lines).
# --------------------------------------------------------------------------------------------
def _identity(x):
    return x  # the scene-trained checkpoints take raw [0, 1] images: no normalisation


def _manifest_accuracy(entry: dict, unit: str) -> str:
    if entry.get("test_accuracy") is None:  # an imported checkpoint without a held-out split
        return "held-out accuracy (manifest): not measured"
    return (f"held-out accuracy (manifest): {entry['test_accuracy']:.1%} on "
            f"{entry['test_images']:,} {unit}")


def _weights_lines(info) -> list[str]:
    lines = [f"weights: {info.description}"]
    entry = info.entry
    if entry is not None:
        lines.append(f"architecture: {entry['architecture']}; changes from the source: "
                     f"{entry['changes']}")
    return lines


def _imagenet_part(name: str, tier: str, device, photos=(0, 4, 14, 16),
                   stand_in: str | None = None) -> SimpleNamespace:
    """An ImageNet model on labelled photos (full), or its scene-trained stand-in (offline) on
    as many test scenes as photos. ``stand_in``: the offline model when ``name`` has none."""
    model, info = pretrained.load_model(name if tier == "full" else stand_in or name, tier=tier)
    part = SimpleNamespace(model=model.to(device).eval(), info=info, classes=info.classes)
    if tier == "full":
        part.images, part.labels, files = data.load_imagenet_samples(list(photos))
        part.names = [f"photo {i}" for i in photos]
        part.preprocess, part.masks, part.scenes = data.imagenet_normalize, None, None
        part.lines = [f"data: {len(files)} labelled ImageNet photographs (foolbox's "
                      "samples: " + ", ".join(f"{n} = {info.classes[int(y)]}" for n, y in
                                              zip(part.names, part.labels))
                      + "), ImageNet's evaluation crop 224 x 224",
                      f"weights: {info.description}"]
        return part
    scenes = data.load_dataset("food11", "test", tier="offline")
    index = list(range(len(photos)))  # the first test scenes, as many as photos
    part.images, part.labels = scenes.getbatch(index)
    part.names = [f"scene {i}" for i in index]
    part.preprocess, part.masks, part.scenes = _identity, scenes.masks[index], scenes
    part.lines = [f"data: {scenes.description}"] + _weights_lines(info)
    return part


def _mnist_lesson(split: str, model_name: str, source: str, tier: str, device):
    ds = data.load_dataset("mnist", split, tier=tier)
    model, info = pretrained.load_model(model_name, tier=tier)
    lines = [f"data: {ds.description}"] + _weights_lines(info) + [
        f"{_manifest_accuracy(info.entry, 'test digits')}; {source}"]
    if info.tier == "offline":
        lines.append("real: the digits (MNIST) and the architecture; the course's own: the "
                     f"weights, trained on {info.entry.get('train_images', 4000):,} real digits "
                     "because the source's weight file is not published")
    return dict(data=ds, model=model.to(device).eval(), info=info), lines


def _lesson01(tier, device):
    return {}, ["data: none: an all-zero input tensor (only its shape matters)",
                "weights: none: random initialisation (shapes and counts do not depend on "
                "weight values)"]


def _lesson02(tier, device):
    return _mnist_lesson("train", "mnist_dnn", "the source's copy reached about 93 %", tier,
                         device)


def _lesson03(tier, device):
    fields, lines = _mnist_lesson("test", "mnist_cnn",
                                  "the source's copy: about 99 % on MNIST's 10,000", tier, device)
    # Seed 004's setting: SqueezeNet 1.1 on five ImageNet photos (full), or the scene-trained
    # ResNet-18 on five test scenes (offline: no ImageNet model ships with the course).
    photos = _imagenet_part("squeezenet1_1", tier, device, photos=(0, 1, 2, 3, 4),
                            stand_in="resnet18")
    fields["photos"] = photos
    return fields, lines + ["seed 004's section:"] + photos.lines


def _food11_lesson(tier, device):
    """Lessons 04 and 07: the homework's four training images (full) or four test scenes."""
    if tier == "full":
        ds = data.load_dataset("food11", "train", tier="full")
        indices = [83, 4218, 4707, 8598]  # the homework's own choice
        if len(ds) <= max(indices):
            raise config.CourseDataError(
                f"food-11's training folder holds {len(ds):,} images, but the homework looks at "
                f"images {indices} of its 9,866: is the folder complete?")
    else:
        # Offline: four held-out scenes of different classes, by a fixed rule: the first test
        # scene of classes 0, 3, 7 and 10 (three digits and the ring).
        ds = data.load_dataset("food11", "test", tier="offline")
        indices = [int(torch.nonzero(ds.labels == c)[0]) for c in (0, 3, 7, 10)]
    model, info = pretrained.load_model("food11_classifier", tier=tier)
    lines = [f"data: {ds.description}"] + _weights_lines(info) + [
        _manifest_accuracy(info.entry, "test images"),
        f"images looked at: {'training' if tier == 'full' else 'test'} images {indices}"]
    return dict(data=ds, indices=indices, model=model.to(device).eval(), info=info), lines


def _lesson07(tier, device):
    """Lesson 07: lesson 04's images and Classifier, and the ``lime`` package, imported without
    the warning its progress-bar library prints in a kernel without ipywidgets."""
    from . import explain

    fields, lines = _food11_lesson(tier, device)
    fields["lime_image"] = explain._lime_modules()[0]
    return fields, lines


def _lesson05(tier, device):
    part = _imagenet_part("resnet18", tier, device)
    fields, lines = vars(part), part.lines
    # The measurements need object masks: the scenes and the scene-trained ResNet-18, in every
    # tier (offline they are the lesson's own model and data already).
    fields["scene_model"] = part.model
    if tier == "full":
        scene_model, scene_info = pretrained.load_model("resnet18", tier="offline")
        fields["scenes"] = data.load_dataset("food11", "test", tier="offline")
        fields["scene_model"] = scene_model.to(device).eval()
        lines = lines + ["measurements with object masks (every tier): "
                         f"data: {fields['scenes'].description}"] + _weights_lines(scene_info)
    return fields, lines


def _last_relu_of_block(net, block: int) -> str:
    """Dotted name of the last ReLU of VGG block ``block`` (1-5): the module before its max-pool
    (``features.35`` in torchvision's vgg19, ``features.29`` in vgg16, ``features.51`` in the
    course's vgg19 with batch norm)."""
    pools = [i for i, m in enumerate(net.features) if isinstance(m, torch.nn.MaxPool2d)]
    index = pools[block - 1] - 1
    if not isinstance(net.features[index], torch.nn.ReLU):
        raise ValueError(f"features.{index} is {type(net.features[index]).__name__}, not the ReLU "
                         f"that should end VGG block {block}")
    return f"features.{index}"


def _seed003_part(tier: str, device, vgg: SimpleNamespace) -> SimpleNamespace:
    """Seed 003's setting (Keras VGG-16, ``block5_conv3``, class 386 "African elephant").

    Keras' ``block5_conv3`` includes its ReLU, so it is torchvision's ``features.29`` (the ReLU
    after the convolution ``features.28``). Full tier: torchvision's ImageNet VGG-16 on part 1's
    photos (none of foolbox's 20 is an elephant). Offline there is no ImageNet VGG-16: the
    recipe runs on part 1's VGG-19 stand-in at its block-5 layer for the class "ring" (scene 0 is
    a ring, the others digits), the scenes' counterpart of asking for one fixed class.
    """
    if tier == "full":
        model, classes = imagenet_model("vgg16")
        model = model.to(device).eval()
        target = 386
        lines = [f"weights: vgg16 with torchvision's ImageNet weights (IMAGENET1K_V1, real); "
                 f"layer {_last_relu_of_block(model, 5)} (Keras' block5_conv3 with its ReLU); "
                 f"class {target} '{classes[target]}' on part 1's photos (none of foolbox's 20 "
                 "photographs shows an elephant)"]
    else:
        model, classes = vgg.model, vgg.info.classes
        target = classes.index("ring")
        lines = ["no ImageNet VGG-16 offline: the seed's recipe runs on part 1's VGG-19 stand-in "
                 f"at {_last_relu_of_block(model, 5)}, for the class '{classes[target]}' (index "
                 f"{target}) on part 1's scenes"]
    return SimpleNamespace(model=model, layer=_last_relu_of_block(model, 5), target=target,
                           classes=classes, images=vgg.images, names=vgg.names,
                           preprocess=vgg.preprocess, lines=lines)


def _lesson06(tier, device):
    vgg = _imagenet_part("vgg19", tier, device)
    seed003 = _seed003_part(tier, device, vgg)
    cnn, cnn_info = pretrained.load_model("simple_cnn", tier=tier)
    cifar = data.load_dataset("cifar10", "test", tier=tier)
    # Seed 000's claim (Grad-CAM = CAM on a GAP network) is checked on the scene-trained
    # ResNet-18 in every tier, and the layers are compared on the scenes (they have object masks)
    # with the scene-trained VGG-19 and SimpleCNN.
    resnet, resnet_info = pretrained.load_model("resnet18", tier="offline")
    scenes128 = data.load_dataset("food11", "test", tier="offline")
    scenes32 = data.load_dataset("cifar10", "test", tier="offline")
    vgg_scenes = vgg.model if tier == "offline" else \
        pretrained.load_model("vgg19", tier="offline")[0].to(device).eval()
    cnn_scenes = cnn if cnn_info.tier == "offline" else \
        pretrained.load_model("simple_cnn", tier="offline")[0]
    lines = (["part 1 (seed 000, VGG-19):"] + vgg.lines
             + ["part 2 (seed 003, VGG-16 at block5_conv3, class 386):"] + seed003.lines
             + ["part 3 (seed 002, SimpleCNN):", f"data: {cifar.description}"]
             + _weights_lines(cnn_info)
             + ["part 4 (seed 000's claim Grad-CAM = CAM, and the layer comparison; the scenes "
                "in every tier, for their object masks):", f"data: {scenes128.description}",
                f"data: {scenes32.description}", f"weights: {resnet_info.description}; the "
                "VGG-19 and SimpleCNN checkpoints trained on these scenes"])
    return dict(vgg=vgg.model, vgg_info=vgg.info, vgg_images=vgg.images, vgg_labels=vgg.labels,
                vgg_names=vgg.names, vgg_preprocess=vgg.preprocess, seed003=seed003,
                cnn=cnn.to(device).eval(), cnn_info=cnn_info, cifar=cifar,
                resnet=resnet.to(device).eval(), resnet_info=resnet_info,
                scenes128=scenes128, scenes32=scenes32, vgg_scenes=vgg_scenes,
                cnn_scenes=cnn_scenes.to(device).eval()), lines


def _lesson08(tier, device):
    scenes = data.load_dataset("food11", "test", tier="offline")
    model, info = pretrained.load_model("resnet18", tier="offline")
    lines = [f"data: {scenes.description}"] + _weights_lines(info)
    # the data-randomisation test and the background cue: the same checkpoints in every tier
    extra = {}
    for key, name in (("random_labels", "resnet18_random_labels"), ("cue_model", "resnet18_cue")):
        net, net_info = pretrained.load_model(name, tier="offline")
        extra[key], extra[key + "_info"] = net.to(device).eval(), net_info
        lines.append(f"{name}: {net_info.description}")
    photos = None
    if tier == "full":
        photos = _imagenet_part("resnet18", "full", device, photos=tuple(range(8)))
        lines += ["last section (full tier only):"] + photos.lines
    return dict(data=scenes, model=model.to(device).eval(), info=info, photos=photos,
                **extra), lines


_LOADERS: dict[str, Callable] = {
    "01": _lesson01, "02": _lesson02, "03": _lesson03, "04": _food11_lesson,
    "05": _lesson05, "06": _lesson06, "07": _lesson07, "08": _lesson08,
}


def start(lesson: str, *, seed: int = 0, threads: int = 2, device: torch.device | str | None = None,
          verbose: bool = True) -> Lesson:
    """Set up lesson ``lesson`` ("01".."08"): seeds, tier, data, model, images; print the banner.

    Args:
        lesson: the lesson's number as a two-digit string.
        seed, threads: passed to :func:`config.setup`.
        device: where the models go; default :func:`config.setup`'s choice (``COURSE_DEVICE``).
        verbose: print the banner.

    Returns:
        A :class:`Lesson`: ``tier``, ``device``, ``decision``, ``banner`` and the fields of the
        lesson's loader (e.g. ``data``, ``indices``, ``model``, ``info`` for lessons 04 and 07, and
        ``lime_image`` for 07).

    Raises:
        KeyError: unknown lesson. config.CourseDataError: ``COURSE_DATA=full`` and something
        the full tier needs is missing (all of it is listed), or data present but unreadable.
    """
    if not isinstance(lesson, str) or lesson not in _LOADERS:
        raise KeyError(f"unknown lesson {lesson!r}; use one of {', '.join(_LOADERS)} (a string)")
    chosen = config.setup(seed=seed, threads=threads)
    try:
        device = chosen if device is None else torch.device(device)
    except RuntimeError:
        raise ValueError(f"device {device!r} is not a device; use 'cpu', 'cuda', 'cuda:1' or "
                         "'mps' (or leave it out: COURSE_DEVICE, else the best one here)") from None
    decision = decide(lesson)
    fields, lines = _LOADERS[lesson](decision.tier, device)
    result = Lesson(lesson=lesson, tier=decision.tier, device=device, decision=decision, **fields)
    result.banner = "\n".join([f"[course] lesson {lesson}"] + decision.lines() + lines)
    if verbose:
        print(result.banner)
    return result
