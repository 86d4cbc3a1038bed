"""Time the full tier's training on this machine, on format-true stand-ins of the REAL size.

For each full-tier checkpoint recipe, the data is written in the real on-disk format at the real
image size (CIFAR-10 python batches of 32x32, MNIST IDX files, food-11 JPEGs of 512x384 named
``<label>_<index>.jpg``, read through ``load_dataset(..., tier="full")`` exactly as
``course train NAME --tier full`` reads them), with random content (timing does not depend on
what the pixels show). ``course_tools.train.fit`` itself is timed on the first N batches (after a
warm-up of 2 batches), and the time per batch is scaled to the real number of batches per epoch
(50,000 CIFAR-10, 60,000 MNIST, 9,866 food-11 training images). The evaluation pass is timed
the same way on part of the test set and scaled to 10,000 / 3,347 images.

This is an extrapolation from N batches, not a whole epoch: say so wherever the figures go.

    OMP_NUM_THREADS=2 PYTHONPATH=. python scripts/time_full_tier.py --batches 30 --out timing.json
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Subset

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

# The real sizes (torchvision's datasets; food-11 as the homework's copy holds it).
REAL = {"cifar10": {"train": 50_000, "test": 10_000}, "mnist": {"train": 60_000, "test": 10_000},
        "food11": {"train": 9_866, "test": 3_347, "all_folders": 9_866 + 3_430 + 3_347}}
FOOD11_PHOTO = (512, 384)  # a typical food-11 photo size (they vary; most are ~512 px wide)


def _load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def write_cifar10_real_size(root: Path, seed: int = 0) -> None:
    """Five 10,000-image batches, a 10,000-image test batch and batches.meta (the real keys)."""
    import pickle

    from fixtures_data import CIFAR_LABEL_NAMES

    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    md5 = {}
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        obj = {"batch_label": name, "labels": [int(v) for v in rng.integers(0, 10, 10_000)],
               "data": rng.integers(0, 256, (10_000, 3072), dtype=np.uint8),
               "filenames": [f"{name}_{i}.png" for i in range(10_000)]}
        with open(folder / name, "wb") as f:
            pickle.dump(obj, f, protocol=2)
        md5[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR_LABEL_NAMES, "num_cases_per_batch": 10_000,
                     "num_vis": 3072}, f, protocol=2)
    md5["batches.meta"] = hashlib.md5((folder / "batches.meta").read_bytes()).hexdigest()
    # the same swap of expected checksums as the tests' patch_cifar10_md5
    from torchvision.datasets import CIFAR10

    CIFAR10.train_list = [[f"data_batch_{k}", md5[f"data_batch_{k}"]] for k in range(1, 6)]
    CIFAR10.test_list = [["test_batch", md5["test_batch"]]]
    CIFAR10.meta = {"filename": "batches.meta", "key": "label_names", "md5": md5["batches.meta"]}


def write_food11_photos(folder: Path, n: int, seed: int = 0) -> float:
    """``n`` JPEGs of FOOD11_PHOTO with photo-like (smooth plus grain) random content; returns
    the mean file size in kB."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    w, h = FOOD11_PHOTO
    for i in range(n):
        coarse = Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
        smooth = np.asarray(coarse.resize((w, h), Image.BICUBIC), dtype=np.int16)
        grain = rng.integers(-12, 13, (h, w, 3), dtype=np.int16)
        image = Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8))
        image.save(folder / f"{i % 11}_{i}.jpg", quality=90)
    sizes = [p.stat().st_size for p in folder.glob("*.jpg")]
    return sum(sizes) / len(sizes) / 1000


def time_fit(model_fn, dataset, recipe, n_batches: int) -> tuple[float, float]:
    """Wall and CPU (this process, all threads) seconds per training batch of ``fit`` (the
    course's training loop), warm-up excluded."""
    from course_tools.train import fit

    bs = recipe.batch_size
    fit(model_fn(), Subset(dataset, range(2 * bs)), 1, recipe.lr, bs, recipe.weight_decay,
        progress=False, max_shift=recipe.max_shift)  # warm-up: allocator, kernels, file cache
    model = model_fn()
    start, cpu = time.perf_counter(), time.process_time()
    fit(model, Subset(dataset, range(n_batches * bs)), 1, recipe.lr, bs, recipe.weight_decay,
        progress=False, max_shift=recipe.max_shift)
    return ((time.perf_counter() - start) / n_batches, (time.process_time() - cpu) / n_batches)


def time_data(dataset, batch_size: int, n_batches: int) -> float:
    """Wall seconds per batch of reading and transforming the images alone (no model)."""
    from torch.utils.data import DataLoader

    loader = DataLoader(Subset(dataset, range(n_batches * batch_size)), batch_size=batch_size)
    start = time.perf_counter()
    for _ in loader:
        pass
    return (time.perf_counter() - start) / n_batches


def time_eval(model, dataset, n_images: int) -> float:
    """Seconds per image of ``evaluate`` (batches of 256, as the trainer measures)."""
    from course_tools.train import evaluate

    evaluate(model, Subset(dataset, range(min(64, n_images))))
    start = time.perf_counter()
    evaluate(model, Subset(dataset, range(n_images)))
    return (time.perf_counter() - start) / n_images


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=30, help="training batches timed per model")
    parser.add_argument("--full-width-batches", type=int, default=6,
                        help="batches timed for the homework's full-width Classifier (slow)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None,
                        help="subset of: simple_cnn mnist_dnn mnist_cnn food11_classifier "
                        "food11_classifier_full_width")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    from course_tools.train import RECIPES
    from course_utils import config
    from course_utils.data import load_dataset
    from course_utils.models import build

    torch.set_num_threads(args.threads)
    only = set(args.only or ["simple_cnn", "mnist_dnn", "mnist_cnn", "food11_classifier",
                             "food11_classifier_full_width"])
    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": f"{platform.machine()} {_cpu_name()}, {os.cpu_count()} cores visible, "
                          f"torch {torch.__version__}, {torch.get_num_threads()} threads",
               "load_average_before": _load_average(), "models": {}}
    with tempfile.TemporaryDirectory(prefix="course_timing_") as tmp:
        root = Path(tmp)
        os.environ["COURSE_DATA_DIR"] = str(root)
        assert config.data_dir() == root
        if "simple_cnn" in only:
            write_cifar10_real_size(root)
            train = load_dataset("cifar10", "train", tier="full")
            test = load_dataset("cifar10", "test", tier="full")
            assert len(train) == 50_000 and train[0][0].shape == (3, 32, 32)
            results["models"]["simple_cnn"] = _measure(
                "simple_cnn", RECIPES["simple_cnn"], train, test, "cifar10", args.batches,
                f"CIFAR-10 python batches, 50,000 + 10,000 random 32x32 images")
        if {"mnist_dnn", "mnist_cnn"} & only:
            from fixtures_data import write_mnist

            write_mnist(root, n_train=60_000, n_test=10_000)
            train = load_dataset("mnist", "train", tier="full")
            test = load_dataset("mnist", "test", tier="full")
            assert len(train) == 60_000
            for name in ("mnist_dnn", "mnist_cnn"):
                if name in only:
                    results["models"][name] = _measure(
                        name, RECIPES[name], train, test, "mnist", args.batches,
                        "MNIST IDX files, 60,000 + 10,000 random 28x28 digits")
        food = {"food11_classifier", "food11_classifier_full_width"} & only
        if food:
            n_train = (max(args.batches, args.full_width_batches) + 2) * 32
            kb = write_food11_photos(root / "food-11" / "training", n_train)
            write_food11_photos(root / "food-11" / "evaluation", 256, seed=1)
            start = time.perf_counter()
            train = load_dataset("food11", "train", tier="full")
            scan = (time.perf_counter() - start) / len(train)
            test = load_dataset("food11", "test", tier="full")
            what = (f"food-11 layout, {FOOD11_PHOTO[0]}x{FOOD11_PHOTO[1]} JPEGs of random smooth "
                    f"content plus grain ({kb:.0f} kB each), read and resized to 128x128 by "
                    "the course's Food11Folder")
            recipe = RECIPES["food11_classifier"]
            if "food11_classifier" in only:
                results["models"]["food11_classifier"] = _measure(
                    "food11_classifier", recipe, train, test, "food11", args.batches, what)
            if "food11_classifier_full_width" in only:
                from dataclasses import replace

                wide = replace(recipe, arch_kwargs={"num_classes": 11, "width_divisor": 1})
                results["models"]["food11_classifier_full_width"] = _measure(
                    "food11_classifier_full_width", wide, train, test, "food11",
                    args.full_width_batches, what + "; the homework's full-width Classifier "
                    "(not a course recipe: what the homework trains)", eval_images=64)
            results["food11_open_scan_s_per_file"] = round(scan, 5)
            results["food11_open_scan_s_all_folders"] = round(scan * REAL["food11"]["all_folders"], 1)
    results["load_average_after"] = _load_average()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def _measure(name, recipe, train, test, dataset, n_batches, what, eval_images=512) -> dict:
    from course_utils.models import build

    def model_fn():
        torch.manual_seed(recipe.seed)
        return build(recipe.architecture, **recipe.arch_kwargs)

    load_before = _load_average()
    per_batch, cpu_per_batch = time_fit(model_fn, train, recipe, n_batches)
    data_per_batch = time_data(train, recipe.batch_size, min(n_batches, 10))
    per_image_eval = time_eval(model_fn(), test, min(eval_images, len(test)))
    batches = REAL[dataset]["train"] // recipe.batch_size  # fit drops the last partial batch
    epoch_min = per_batch * batches / 60
    eval_min = per_image_eval * REAL[dataset]["test"] / 60
    out = {
        "data": what,
        "architecture": f"{recipe.architecture} {recipe.arch_kwargs}",
        "batch_size": recipe.batch_size,
        "batches_timed": n_batches,
        "s_per_batch": round(per_batch, 4),
        "cpu_s_per_batch": round(cpu_per_batch, 4),
        "data_only_s_per_batch": round(data_per_batch, 4),
        "batches_per_epoch": batches,
        "train_min_per_epoch": round(epoch_min, 2),
        "train_cpu_min_per_epoch": round(cpu_per_batch * batches / 60, 2),
        "eval_images_timed": min(eval_images, len(test)),
        "eval_min_test_split": round(eval_min, 2),
        "recipe_epochs": RECIPES_EPOCHS.get(name),
        "load_average_during": f"{load_before} -> {_load_average()}",
    }
    if out["recipe_epochs"]:
        out["train_min_recipe"] = round(epoch_min * out["recipe_epochs"] + eval_min, 1)
    print(f"{name}: {per_batch * 1000:.0f} ms/batch x {batches} batches = "
          f"{epoch_min:.1f} min/epoch (from {n_batches} batches)", file=sys.stderr, flush=True)
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


from course_tools.train import RECIPES as _RECIPES  # noqa: E402

RECIPES_EPOCHS = {name: r.epochs for name, r in _RECIPES.items()}

if __name__ == "__main__":
    sys.exit(main())
