"""One place that decides which weights a lesson uses, by tier.

- ResNet-18 and VGG-19: ImageNet weights from the torch hub cache in the full tier; the course's
  own checkpoints, trained on the scene stand-in, in the offline tier.
- SqueezeNet 1.1 (lesson 03's seed 004): ImageNet weights from the torch hub cache, full tier only
  (no offline checkpoint; lesson 03 uses the scene-trained ResNet-18 offline).
- The sources' own small models: the committed checkpoints (offline tier), or those that
  ``course train NAME --tier full`` wrote into ``checkpoints/full/`` (full tier). The MNIST
  models were trained on real MNIST digits, so they serve both tiers.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from . import config
from .checkpoints import MANIFEST, load_checkpoint
from .models import IMAGENET_WEIGHTS, imagenet_model, imagenet_weights_file

COURSE_MODELS = ("mnist_dnn", "mnist_cnn", "simple_cnn", "food11_classifier", "resnet18", "vgg19",
                 "squeezenet1_1", "resnet18_cue", "resnet18_random_labels")
FULL_TIER_ONLY = ("squeezenet1_1",)  # torchvision's ImageNet weights, no committed stand-in
REAL_DATA_CHECKPOINTS = ("mnist_dnn", "mnist_cnn")
# Trained for lesson 08's tests on the generated scenes only: the same checkpoint in every tier.
SCENE_ONLY_CHECKPOINTS = ("resnet18_cue", "resnet18_random_labels")


@dataclass
class ModelInfo:
    name: str
    tier: str
    description: str
    classes: list
    entry: dict | None = None  # the manifest's record, for course checkpoints


def accuracy_words(entry: dict) -> str:
    """"held-out accuracy 91.1%", or why there is none (an imported checkpoint with no labelled
    held-out split to measure it on)."""
    accuracy = entry.get("test_accuracy")
    return "held-out accuracy not measured" if accuracy is None else \
        f"held-out accuracy {accuracy:.1%}"


def _full_checkpoint_available(name: str) -> bool:
    folder = config.checkpoint_dir() / "full"
    if not (folder / MANIFEST).is_file():
        return False
    import json

    return name in json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


def load_model(name: str, tier: str | None = None) -> tuple[nn.Module, ModelInfo]:
    """Return ``(model in eval mode, ModelInfo)`` for ``name`` in the requested tier.

    Args:
        name: one of ``COURSE_MODELS``.
        tier: ``auto | offline | full`` (default: the ``COURSE_DATA`` variable). Pass the
            dataset's resolved tier so that data and weights match.
    """
    if name not in COURSE_MODELS:
        raise KeyError(f"unknown model {name!r}; choose from {', '.join(COURSE_MODELS)}")
    if name in IMAGENET_WEIGHTS:
        path = imagenet_weights_file(name)
        how = (f"Put torchvision's file at {path} (on a machine with internet, building the model "
               f"with weights='IMAGENET1K_V1' downloads it there).")
        resolved = config.resolve_tier(f"the ImageNet weights of {name}", path.is_file(), how, tier)
        if resolved == "full":
            model, classes = imagenet_model(name)
            return model, ModelInfo(name, "full", f"{name} with torchvision's ImageNet weights "
                                    "(IMAGENET1K_V1, real)", classes)
        if name in FULL_TIER_ONLY:
            raise config.CourseDataError(
                f"{name} has no offline stand-in checkpoint: it needs torchvision's ImageNet "
                f"weights, which are not at {path}. {how}")
    elif name not in SCENE_ONLY_CHECKPOINTS:
        requested = config.requested_tier() if tier is None else tier
        has_full = _full_checkpoint_available(name)
        if requested == "full" and not has_full and name in REAL_DATA_CHECKPOINTS:
            resolved = "offline"  # trained on real MNIST digits: valid for the full tier too
        else:
            how = (f"Train it on the real data with `course train {name} --tier full` (it writes "
                   "checkpoints/full/).")
            resolved = config.resolve_tier(f"a checkpoint of {name} trained on the real data",
                                           has_full, how, requested)
        if resolved == "full":
            model, entry = load_checkpoint(name, folder=config.checkpoint_dir() / "full")
            origin = (f"the homework's own checkpoint imported from {entry['imported_from']}"
                      if entry.get("imported_from") else "trained by you on the real data")
            return model, ModelInfo(name, "full", f"{name}, {origin} ({accuracy_words(entry)})",
                                    entry.get("classes", []), entry)
    model, entry = load_checkpoint(name)
    desc = (f"course checkpoint {entry['file']} ({entry['architecture']}, trained on "
            f"{entry['data_note'] or entry['data']}; {accuracy_words(entry)})")
    return model, ModelInfo(name, "offline", desc, entry.get("classes", []), entry)
