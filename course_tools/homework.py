"""Import the food-11 homework's own trained model: ``course import-homework-checkpoint PATH``.

The homework (ML2020/2021 HW3, whose explanation homework is lesson 04's and 07's source) saves
``model.state_dict()`` of its full-width ``Classifier`` to ``checkpoint.pth``, often wrapped
(``{'model_state_dict': ..., 'optimizer_state_dict': ...}``) and sometimes with the
``module.`` prefixes of ``nn.DataParallel``. :func:`import_homework_checkpoint` finds the
state dict in the common forms, checks every key and shape against the course's
``Classifier(width_divisor=1)`` (the same layer indices: ``cnn.0`` ... ``cnn.37``, ``fc.0``,
``fc.3``), measures its accuracy on food-11's held-out split when that is present, and writes it
as ``checkpoints/full/food11_classifier.pt`` with a manifest entry, where
``pretrained.load_model('food11_classifier', tier='full')`` finds it.

The file is read with ``torch.load(..., weights_only=True)``: tensors and plain containers only,
never arbitrary pickled code (a file holding a whole pickled model is refused with the fix).
"""
from __future__ import annotations

import platform
import time
from collections.abc import Mapping
from pathlib import Path

import torch

from course_utils import config
from course_utils.checkpoints import read_manifest, read_weights, save_checkpoint, sha256_of, \
    write_manifest
from course_utils.config import CourseDataError
from course_utils.data.datasets import FOOD11_CLASSES
from course_utils.models import Classifier

__all__ = ["HOMEWORK_ARCH_KWARGS", "find_state_dict", "check_homework_state_dict",
           "import_homework_checkpoint"]

NAME = "food11_classifier"
HOMEWORK_ARCH_KWARGS = {"num_classes": 11, "width_divisor": 1}
# Keys under which training scripts commonly store the weights inside a checkpoint dict.
_WRAPPER_KEYS = ("model_state_dict", "state_dict", "model_state", "model", "net",
                 "state_dict_ema", "weights")
# Prefixes added by nn.DataParallel / DistributedDataParallel, torch.compile, Lightning.
_PREFIXES = ("module.", "_orig_mod.", "model.")


def _is_state_dict(obj) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def find_state_dict(obj, _where: str = "the file") -> tuple[dict[str, torch.Tensor], list[str]]:
    """The state dict inside what ``torch.load`` returned, and how it was found.

    Accepts a state dict, or a dict holding one under ``model_state_dict``, ``state_dict``,
    ``model``, ``net``... (nested too); removes a ``module.`` (DataParallel), ``_orig_mod.``
    (torch.compile) or ``model.`` prefix shared by every key.

    Returns:
        ``(state dict, steps)``: ``steps`` says in words how it was unwrapped.

    Raises:
        CourseDataError: no state dict found (the top-level keys are named).
    """
    steps: list[str] = []
    current = obj
    for _ in range(4):  # a few levels of wrapping at most
        if _is_state_dict(current):
            break
        if not isinstance(current, Mapping):
            raise CourseDataError(
                f"{_where} holds a {type(current).__name__}, not a state dict (a dict of "
                "tensors). Save the weights in the homework notebook with "
                "torch.save(model.state_dict(), 'checkpoint.pth').")
        key = next((k for k in _WRAPPER_KEYS if k in current and isinstance(current[k], Mapping)),
                   None)
        if key is None:
            tensors = [k for k, v in current.items() if isinstance(v, torch.Tensor)]
            if tensors:  # a state dict with some extra non-tensor entries: keep the tensors
                skipped = [str(k) for k in current if k not in tensors]
                steps.append(f"ignored {len(skipped)} non-tensor entries ({', '.join(skipped[:5])})")
                current = {k: v for k, v in current.items() if k in tensors}
                break
            keys = ", ".join(repr(k) for k in list(current)[:10])
            raise CourseDataError(
                f"{_where} holds a dict without model weights: its keys are {keys}. Expected "
                "the state dict itself or a dict with 'model_state_dict' (as the homework "
                "saves it), 'state_dict' or 'model'.")
        steps.append(f"took the weights under {key!r}")
        current = current[key]
    else:
        raise CourseDataError(f"{_where}: no state dict found within four levels of nesting.")
    state = dict(current)
    for prefix in _PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
            steps.append(f"removed the {prefix!r} prefix from every key"
                         + (" (nn.DataParallel)" if prefix == "module." else ""))
    return state, steps


def _shape(t) -> str:
    return "(" + ", ".join(str(d) for d in t.shape) + ")"


def check_homework_state_dict(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """Load ``state`` into the course's full-width ``Classifier``, checking every key and shape.

    A missing ``num_batches_tracked`` (older PyTorch) is filled with 0, as PyTorch does.

    Returns:
        The model, in eval mode, with the weights loaded (float32).

    Raises:
        CourseDataError: listing the missing and unexpected keys and every shape that differs,
            each with the shape expected, and a hint when the file is the course's narrowed
            model or has another number of classes.
    """
    model = Classifier(**HOMEWORK_ARCH_KWARGS)
    expected = model.state_dict()
    given = list(state)
    state = dict(state)
    for key in expected:
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=torch.long)
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        lines = []
        if wrong:
            # one line per layer: its weight (biases and BatchNorm statistics follow it)
            layers = {k.rsplit(".", 1)[0] for k in wrong}
            primary = [k for k in wrong if k.endswith(".weight")
                       or f"{k.rsplit('.', 1)[0]}.weight" not in wrong]
            shown = [f"{k} is {_shape(state[k])}, expected {_shape(expected[k])}" for k in primary]
            if len(shown) > 12:  # the first and the last layers say the most
                shown = shown[:6] + [f"... ({len(shown) - 12} more)"] + shown[-6:]
            rest = len(wrong) - len(primary)
            lines.append(f"{len(wrong)} tensor(s) in {len(layers)} layer(s) have another shape: "
                         + "; ".join(shown)
                         + (f" (and {rest} bias/statistics tensor(s) of the same layers)"
                            if rest else ""))
        if missing:
            lines.append(f"{len(missing)} key(s) missing: {', '.join(missing[:12])}"
                         + (f", ... ({len(missing) - 12} more)" if len(missing) > 12 else ""))
        if unexpected:
            lines.append(f"{len(unexpected)} unexpected key(s): {', '.join(unexpected[:12])}"
                         + (f", ... ({len(unexpected) - 12} more)" if len(unexpected) > 12 else ""))
        hints = []
        first = state.get("cnn.0.weight")
        if first is not None and first.ndim == 4 and first.shape[0] != 128 and not missing:
            hints.append(f"its first convolution has {first.shape[0]} channels where the "
                         "homework's has 128 (the course's offline model has 16: widths / 8)")
        head = state.get("fc.3.weight")
        if head is not None and head.ndim == 2 and head.shape[0] != len(FOOD11_CLASSES):
            hints.append(f"its last layer has {head.shape[0]} outputs, food-11 has "
                         f"{len(FOOD11_CLASSES)} classes")
        if missing and unexpected and not any(k.startswith(("cnn.", "fc.")) for k in given):
            hints.append("its layers are not named cnn.N / fc.N: it is not the homework's "
                         "Classifier")
        raise CourseDataError(
            "the checkpoint does not hold the food-11 homework's Classifier (Conv-BN-ReLU "
            "stacks of 128, 128, 256, 512, 512 channels as cnn.0..cnn.37, then fc.0 "
            "Linear(512*4*4, 1024) and fc.3 Linear(1024, 11)): " + ". ".join(lines) + "."
            + (" Hint: " + "; ".join(hints) + "." if hints else ""))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


def _read(path: Path):
    if not path.is_file():
        raise CourseDataError(f"no file at {path}: give the path of the homework's "
                              "checkpoint.pth.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds for a bad file
        text = str(err)
        if "Unsupported global" in text or "GLOBAL " in text:
            raise CourseDataError(
                f"{path} holds pickled Python objects, not only tensors (probably the whole "
                "model, saved with torch.save(model, ...)); for safety the course reads "
                "tensors only. In the homework notebook, save the weights with "
                "torch.save(model.state_dict(), 'checkpoint.pth') and import that file.") from err
        first = text.strip().splitlines()[0][:200] if text.strip() else type(err).__name__
        raise CourseDataError(
            f"cannot read {path} as a PyTorch checkpoint ({type(err).__name__}: {first}); "
            f"the file is {path.stat().st_size:,} bytes. It is corrupt, truncated or not a "
            "torch.save file: download or copy it again.") from err


def import_homework_checkpoint(path: str | Path, out_dir: Path | None = None,
                               measure: bool = True, convert_to_rgb: bool = True,
                               log=None) -> dict:
    """Import the homework's ``checkpoint.pth`` as the full tier's ``food11_classifier``.

    Args:
        path: the homework's checkpoint file.
        out_dir: where to write (default ``checkpoint_dir()/full``).
        measure: measure the accuracy on food-11's held-out split (``evaluation/``, else the
            homework's ``validation/``) when it is present under ``data_dir()/food-11``.
        convert_to_rgb: for that measurement, convert non-RGB food-11 files (default).
        log: called with one line before the measurement (which takes minutes on a CPU).

    Returns:
        The manifest entry written (``test_accuracy`` is None when no held-out data was found,
        or ``measure`` was False).

    Raises:
        CourseDataError: unreadable file, no state dict in it, or keys/shapes that are not the
            homework's Classifier (every mismatch named, with the shape expected).
    """
    from course_tools.train import _held_out_split, evaluate

    path = Path(path).expanduser()
    state, steps = find_state_dict(_read(path), str(path))
    model = check_homework_state_dict(state)
    out_dir = Path(out_dir) if out_dir else config.checkpoint_dir() / "full"
    target = out_dir / f"{NAME}.pt"
    sha = save_checkpoint(model, target)
    # Measure what the lessons load: the weights as stored (float16, read back as float32).
    stored = Classifier(**HOMEWORK_ARCH_KWARGS)
    stored.load_state_dict(read_weights(target))
    stored.eval()
    accuracy, test_images, test_data, held_out_note, seconds = None, 0, "", "", 0.0
    if measure:
        from course_utils.data import full, load_dataset

        split, held_out_note = _held_out_split("food11", "full")
        folder = full.FOOD11_FOLDER[split]
        if full.food11_present(config.data_dir(), folder):
            test_set = load_dataset("food11", split, tier="full", convert_to_rgb=convert_to_rgb)
            device = config.get_device()
            if log:
                log(f"measuring the accuracy on {len(test_set):,} images of {folder}/ on "
                    f"{device.type.upper()} (the full-width model: about 0.2 s per image on a "
                    "2-core CPU; --no-measure skips this)")
            start = time.time()
            accuracy = evaluate(stored.to(device), test_set, batch_size=64)
            stored.cpu()
            seconds = time.time() - start
            test_images, test_data = len(test_set), test_set.description
            if held_out_note:
                held_out_note += ("; if the homework's model was also trained on validation/, "
                                  "this accuracy is not on unseen images")
        else:
            held_out_note = (f"not measured: no labelled food-11 held-out split under "
                             f"{config.data_dir() / 'food-11'} (evaluation/ or validation/)")
    else:
        held_out_note = "not measured (--no-measure)"
    entry = {
        "file": target.name,
        "sha256": sha,
        "bytes": target.stat().st_size,
        "architecture": "Classifier",
        "arch_kwargs": dict(HOMEWORK_ARCH_KWARGS),
        "data": "the food-11 homework's own training (imported, not trained by the course)",
        "data_note": "real food-11 photos (Singla et al. 2016, the ML2020/2021 homework data "
                     "set; 11 classes), 128x128: trained by the homework, imported from "
                     f"{path.name}",
        "tier": "full",
        "test_accuracy": None if accuracy is None else round(accuracy, 4),
        "test_images": test_images,
        "test_data": test_data,
        "held_out_note": held_out_note,
        "classes": list(FOOD11_CLASSES),
        "changes": "none: the homework's Classifier at full width (128, 128, 256, 512, 512 "
                   "channels; fc Linear(512*4*4, 1024) -> ReLU -> Dropout(0.3) -> "
                   "Linear(1024, 11))",
        "stored_dtype": "float16",
        "imported_from": str(path.resolve()),
        "imported_sha256": sha256_of(path),
        "imported_how": "; ".join(steps) or "the file is the state dict itself",
        "command": f"course import-homework-checkpoint {path}",
        "measured_on": (f"{platform.machine()} {device.type.upper()}, torch "
                        f"{torch.__version__}, {torch.get_num_threads()} threads, {seconds:.0f} s")
                       if accuracy is not None else "",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        manifest = read_manifest(out_dir)
    except CourseDataError:
        manifest = {}
    manifest[NAME] = entry
    write_manifest(manifest, out_dir)
    return entry
