"""Checkpoints of the offline tier: save, verify (sha256) and load, through one manifest.

``checkpoints/manifest.json`` lists every weight file with its sha256, architecture (and the
keyword arguments that build it), data, tier, held-out accuracy, seed and the command that
re-creates it. Loading refuses a file whose hash differs from the manifest's, so a truncated
download or an accidental edit fails loudly instead of giving quietly different heatmaps.
"""
from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import torch
from torch import nn

from .config import CourseDataError, checkpoint_dir
from .models import build

MANIFEST = "manifest.json"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(folder: Path | None = None) -> dict:
    folder = Path(folder) if folder else checkpoint_dir()
    path = folder / MANIFEST
    if not path.is_file():
        raise CourseDataError(f"no checkpoint manifest at {path}; restore the repository's "
                              "checkpoints/ folder (git checkout -- checkpoints) or retrain with "
                              "`course train all`.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CourseDataError(f"checkpoint manifest {path} is not valid JSON ({err}); restore it "
                              "with `git checkout -- checkpoints/manifest.json` or retrain with "
                              "`course train all`.") from err
    if not isinstance(manifest, dict):
        raise CourseDataError(f"checkpoint manifest {path} must hold a JSON object (name -> "
                              f"entry), got {type(manifest).__name__}; restore it with "
                              "`git checkout -- checkpoints/manifest.json`.")
    return manifest


def write_manifest(manifest: dict, folder: Path | None = None) -> None:
    folder = Path(folder) if folder else checkpoint_dir()
    text = json.dumps(dict(sorted(manifest.items())), indent=2, sort_keys=True) + "\n"
    (folder / MANIFEST).write_text(text, encoding="utf-8")


def save_checkpoint(model: nn.Module, path: Path, dtype: torch.dtype = torch.float16) -> str:
    """Save the state dict (floating tensors cast to ``dtype`` to halve the size) and return its sha256.

    Saving goes through a buffer so that the bytes, and so the hash, depend only on the weights.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype (float16, bfloat16, float32), "
                        f"got {dtype!r}: other dtypes would round the weights to integers")
    state = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous()
             for k, v in model.state_dict().items()}
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"tensor(s) {', '.join(bad[:5])} hold NaN or inf, or values beyond {dtype}'s "
                         f"range ({torch.finfo(dtype).max:g}); nothing was saved")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(buffer.getvalue())
    return sha256_of(path)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict stored at ``path``, floating tensors back in float32 (they are stored in
    float16): what the lessons and the trainer's accuracy measurement both load."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}: `course train NAME` re-creates a "
                                "committed one, git checkout restores it")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 (truncated, not a zip, not a state dict, ...)
        raise ValueError(f"{path} is not a readable checkpoint ({type(err).__name__}); it is "
                         "damaged or not a state dict saved by course_utils.checkpoints") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} does not hold a state dict (name -> tensor)")
    return {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}


def load_checkpoint(name: str, folder: Path | None = None, verify: bool = True) -> tuple[nn.Module, dict]:
    """Build the model ``name`` from the manifest and load its verified weights (in eval mode).

    Returns ``(model, entry)`` where ``entry`` is the manifest's record (accuracy, data, changes...).

    Raises:
        CourseDataError: unknown name, missing file, sha256 mismatch (corrupted or truncated
            file) or a file that torch cannot read, each with what to do about it.
    """
    folder = Path(folder) if folder else checkpoint_dir()
    manifest = read_manifest(folder)
    if name not in manifest:
        raise CourseDataError(f"no checkpoint named {name!r} in {folder / MANIFEST}; "
                              f"available: {', '.join(sorted(manifest))}.")
    entry = manifest[name]
    missing = sorted({"file", "sha256", "architecture"} - set(entry)) if isinstance(entry, dict) else None
    if missing is None or missing:
        raise CourseDataError(f"the manifest's entry {name!r} in {folder / MANIFEST} is "
                              + (f"missing {', '.join(missing)}" if missing else
                                 f"not an object ({type(entry).__name__})")
                              + "; restore it with `git checkout -- checkpoints/manifest.json` "
                              f"or re-create it with `course train {name}`.")
    path = folder / entry["file"]
    fix = (f"Restore it with `git checkout -- {Path('checkpoints') / entry['file']}` or "
           f"re-create it with `{entry.get('command', f'course train {name}')}`.")
    if not path.is_file():
        raise CourseDataError(f"checkpoint file {path} is missing. {fix}")
    if verify:
        actual = sha256_of(path)
        if actual != entry["sha256"]:
            raise CourseDataError(
                f"checkpoint {path} is corrupted or truncated: its sha256 is {actual[:12]}... but the "
                f"manifest says {entry['sha256'][:12]}... ({path.stat().st_size} bytes, expected "
                f"{entry.get('bytes', '?')}). {fix}")
    try:
        state = read_weights(path)
    except Exception as exc:
        raise CourseDataError(f"checkpoint {path} cannot be read ({exc}). {fix}") from exc
    model = build(entry["architecture"], **entry.get("arch_kwargs", {}))
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # missing / unexpected keys or other shapes
        first = str(exc).strip().splitlines()[0]
        raise CourseDataError(
            f"checkpoint {path} does not hold the weights of {entry['architecture']}"
            f"{entry.get('arch_kwargs') or ''} that the manifest names ({first}). The manifest "
            f"and the file disagree: {fix}") from exc
    return model.eval(), entry
