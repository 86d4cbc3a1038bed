"""Everything the full tier reads, in the real formats, small enough for CI.

:func:`write_full_tier` fills three folders, which the lessons find through the same variables a
student sets: ``COURSE_DATA_DIR`` (MNIST IDX files, CIFAR-10 pickled batches, a food-11 tree with
at least 8,599 training images so that the homework's images 83, 4218, 4707 and 8598 exist),
``TORCH_HOME`` (a torch hub cache holding randomly initialised ResNet-18, VGG-19, VGG-16 and
SqueezeNet 1.1 under torchvision's file names: every row of ``models.IMAGENET_WEIGHTS``; about
1.1 GB, most of it the two VGGs) and ``COURSE_CHECKPOINT_DIR`` (the committed checkpoints, and in
``full/`` the course's full-tier checkpoints: the scene-trained weights relabelled with the real
classes). The numbers the lessons print on these are meaningless; the code paths are real.

``only`` writes a subset, for the auto tier with part of the data present.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import torch
import torchvision

from course_utils.checkpoints import MANIFEST
from course_utils.data.datasets import FOOD11_CLASSES
from course_utils.models import IMAGENET_WEIGHTS
from fixtures_data import CIFAR_LABEL_NAMES, write_cifar10, write_food11, write_mnist

REPO = Path(__file__).resolve().parents[1]
PARTS = ("mnist", "cifar10", "food11", "weights", "checkpoint:simple_cnn",
         "checkpoint:food11_classifier")
FOOD11_TRAINING = 8600  # > 8598, the homework's last image


def _hub_cache(torch_home: Path) -> None:
    """Random-weight ImageNet models under torchvision's names, in ``TORCH_HOME``'s layout
    (``hub/checkpoints/<file>``). The path is built here rather than through torch.hub.set_dir,
    which would pin the hub folder for the rest of the process."""
    for name, (builder, weights) in IMAGENET_WEIGHTS.items():
        path = torch_home / "hub" / "checkpoints" / Path(weights.url).name
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(getattr(torchvision.models, builder)(weights=None).state_dict(), path)


def _full_checkpoints(checkpoints: Path, names) -> None:
    """Copy committed checkpoints into ``full/`` as if trained on the real data."""
    offline = json.loads((REPO / "checkpoints" / MANIFEST).read_text())
    real_classes = {"simple_cnn": list(CIFAR_LABEL_NAMES), "food11_classifier": list(FOOD11_CLASSES)}
    folder = checkpoints / "full"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name in names:
        entry = dict(offline[name])
        shutil.copy(REPO / "checkpoints" / entry["file"], folder / entry["file"])
        entry.update(tier="full", classes=real_classes[name], command=f"course train {name} --tier full",
                     data_note="test stand-in: scene-trained weights relabelled with the real classes",
                     sha256=hashlib.sha256((folder / entry["file"]).read_bytes()).hexdigest())
        manifest[name] = entry
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


def write_full_tier(base: Path, only=PARTS) -> dict[str, str]:
    """Write the full tier's files under ``base``; return the environment that points at them.

    Args:
        base: an empty folder.
        only: which of :data:`PARTS` to write ("weights" = the hub cache; the committed offline
            checkpoints are always there, as in a student's clone).
    Returns:
        ``{"COURSE_DATA_DIR": ..., "COURSE_CHECKPOINT_DIR": ..., "TORCH_HOME": ...,
        "CIFAR10_MD5": json of the fixture's checksums (see :func:`cifar_md5_patch`)}``.
    """
    unknown = set(only) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    base = Path(base)
    data_root, checkpoints, torch_home = base / "data", base / "checkpoints", base / "torch"
    data_root.mkdir(parents=True)
    shutil.copytree(REPO / "checkpoints", checkpoints, ignore=shutil.ignore_patterns("full"))
    md5 = {}
    if "mnist" in only:
        write_mnist(data_root, n_train=300, n_test=100)
    if "cifar10" in only:
        md5 = write_cifar10(data_root, per_batch=40, n_test=120)["md5"]
    if "food11" in only:
        labels = [i % len(FOOD11_CLASSES) for i in range(FOOD11_TRAINING)]
        write_food11(data_root, "training", labels=labels, size=(24, 16))
        write_food11(data_root, "evaluation", labels=list(range(len(FOOD11_CLASSES))) * 2,
                     size=(24, 16))
    if "weights" in only:
        _hub_cache(torch_home)
    ckpts = [p.split(":")[1] for p in only if p.startswith("checkpoint:")]
    if ckpts:
        _full_checkpoints(checkpoints, ckpts)
    return {"COURSE_DATA_DIR": str(data_root), "COURSE_CHECKPOINT_DIR": str(checkpoints),
            "TORCH_HOME": str(torch_home), "CIFAR10_MD5": json.dumps(md5)}


def cifar_md5_patch(md5_json: str) -> str:
    """Python source that makes torchvision's CIFAR10 expect the fixture's checksums.

    Run in the kernel before a lesson (the test prepends it as a cell): torchvision's own code,
    md5 check included, then reads the fixture. See ``fixtures_data.patch_cifar10_md5``.
    """
    md5 = json.loads(md5_json)
    if not md5:
        return ""
    return (
        "from torchvision.datasets import CIFAR10 as _C\n"
        f"_m = {md5!r}\n"
        "_C.train_list = [[f'data_batch_{k}', _m[f'data_batch_{k}']] for k in range(1, 6)]\n"
        "_C.test_list = [['test_batch', _m['test_batch']]]\n"
        "_C.meta = {'filename': 'batches.meta', 'key': 'label_names', 'md5': _m['batches.meta']}\n"
        "del _C, _m\n")
