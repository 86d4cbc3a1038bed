"""The ``course`` command: ``course train NAME``, ``course verify``, ``course info``,
``course bench``."""
from __future__ import annotations

import argparse
import json
import sys


def _train(args) -> int:
    from .train import RECIPES, train_recipe

    names = list(RECIPES) if args.name == "all" else [args.name]
    for name in names:
        if name not in RECIPES:
            print(f"unknown checkpoint {name!r}; choose from: all, {', '.join(RECIPES)}", file=sys.stderr)
            return 2
    for name in names:
        print(f"== training {name} ({args.tier} tier)", flush=True)
        entry = train_recipe(name, tier=args.tier, epochs=args.epochs, progress=not args.quiet)
        print(f"{name}: test accuracy {entry['test_accuracy']:.4f} on {entry['test_images']} held-out "
              f"images, sha256 {entry['sha256'][:16]}..., {entry['trained_on']}", flush=True)
    return 0


def _verify(args) -> int:
    from .checkpoints import read_manifest, sha256_of
    from .config import checkpoint_dir

    folder = checkpoint_dir()
    manifest = read_manifest(folder)
    bad = 0
    for name, entry in sorted(manifest.items()):
        path = folder / entry["file"]
        ok = path.is_file() and sha256_of(path) == entry["sha256"]
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {name:20s} {entry['file']:24s} acc={entry['test_accuracy']:.4f}")
    listed = {e["file"] for e in manifest.values()}
    for path in sorted(folder.glob("*.pt")):
        if path.name not in listed:
            bad += 1
            print(f"BAD {path.name}: not listed in the manifest")
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"checkpoints/: {size / 2**20:.1f} MiB (budget 60 MiB)")
    return 1 if bad or size > 60 * 2**20 else 0


def _info(args) -> int:
    from . import config

    print(json.dumps({"COURSE_DATA": config.requested_tier(), "data_dir": str(config.data_dir()),
                      "checkpoint_dir": str(config.checkpoint_dir()),
                      "device": str(config.get_device())}, indent=2))
    return 0


def _bench(args) -> int:
    from . import bench

    return bench.bench(quick=args.quick, out=args.out, threads=args.threads)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="re-create a checkpoint from its recipe (or 'all')")
    train.add_argument("name")
    train.add_argument("--tier", choices=["offline", "full"], default="offline")
    train.add_argument("--epochs", type=int, default=None, help="override (quick trials only)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=_train)
    verify = sub.add_parser("verify", help="check every checkpoint against the manifest")
    verify.set_defaults(func=_verify)
    info = sub.add_parser("info", help="print the tier, folders and device in use")
    info.set_defaults(func=_info)
    bench = sub.add_parser("bench", help="time the explanation methods against reference "
                           "libraries and the floor; write a Markdown table")
    bench.add_argument("--quick", action="store_true",
                       help="tiny inputs, 100 LIME samples, 2 rounds (under a minute; for tests)")
    bench.add_argument("--out", default="benchmarks/RESULTS.md",
                       help="Markdown file to write (default benchmarks/RESULTS.md)")
    bench.add_argument("--threads", type=int, default=2,
                       help="torch threads (default 2, the course's setting; 1 on a busy machine)")
    bench.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
