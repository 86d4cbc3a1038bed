"""The ``course`` command: ``course train NAME``, ``course import-homework-checkpoint PATH``,
``course verify``, ``course info``, ``course bench``,
``course grade {release,check,autograde,selftest}``, ``course prose-check [NOTEBOOK ...]``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from course_utils.paths import REPO_ROOT

# The default nbgrader course directory (kept here so `course --help` does not import nbgrader).
DEFAULT_COURSE_DIR = REPO_ROOT / "grading"


def _positive(kind):
    """argparse type: a number of ``kind`` (int or float) greater than 0."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an int' if kind is int else 'a number'}, got {text!r}") from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _train(args) -> int:
    from course_utils.config import CourseDataError

    from .train import IMAGENET_IN_FULL_TIER, RECIPES, describe_entry, train_recipe

    if args.all or args.name is None:
        print("name the checkpoint to train, or all of them: course train NAME | course train all "
              f"(not --all); checkpoints: {', '.join(RECIPES)}", file=sys.stderr)
        return 2

    names = list(RECIPES) if args.name == "all" else [args.name]
    for name in names:
        if name not in RECIPES:
            print(f"unknown checkpoint {name!r}; choose from: all, {', '.join(RECIPES)}", file=sys.stderr)
            return 2
    if args.tier == "full":
        if args.name == "all":
            names = [n for n in names if n not in IMAGENET_IN_FULL_TIER]
            print(f"(full tier: {', '.join(IMAGENET_IN_FULL_TIER)} use torchvision's ImageNet "
                  "weights, not a course checkpoint: skipped)", flush=True)
        elif args.name in IMAGENET_IN_FULL_TIER:
            print(f"course train {args.name} --tier full: in the full tier the lessons use "
                  f"torchvision's ImageNet weights for {args.name}, not a course checkpoint; "
                  "put them in the torch hub cache (see the README).", file=sys.stderr)
            return 2
    for name in names:
        print(f"== training {name} ({args.tier} tier)", flush=True)
        try:
            entry = train_recipe(name, tier=args.tier, epochs=args.epochs, progress=not args.quiet,
                                 convert_to_rgb=not args.no_rgb_conversion)
        except CourseDataError as err:
            print(f"course train {name}: {err}", file=sys.stderr)
            return 2
        print(describe_entry(name, entry), flush=True)
        if args.tier == "offline" and entry.get("epochs_override"):
            print(f"  (--epochs override: checkpoints/manifest.json was left alone; restore the "
                  f"committed file with `git checkout -- checkpoints/{entry['file']}`)", flush=True)
    return 0


def _import_homework(args) -> int:
    from course_utils.config import CourseDataError

    from .homework import import_homework_checkpoint

    try:
        entry = import_homework_checkpoint(args.path, measure=not args.no_measure,
                                           convert_to_rgb=not args.no_rgb_conversion,
                                           log=lambda line: print(line, flush=True))
    except CourseDataError as err:
        print(f"course import-homework-checkpoint: {err}", file=sys.stderr)
        return 2
    from course_utils.config import checkpoint_dir

    print(f"imported {args.path} ({entry['imported_how']})")
    print(f"  wrote {checkpoint_dir() / 'full' / entry['file']} ({entry['bytes'] / 2**20:.1f} "
          f"MiB, sha256 {entry['sha256'][:16]}...), listed in checkpoints/full/manifest.json")
    if entry["test_accuracy"] is not None:
        print(f"  held-out accuracy {entry['test_accuracy']:.2%} on {entry['test_images']:,} "
              f"images ({entry['test_data']}; {entry['measured_on']})")
    if entry.get("held_out_note"):
        print(f"  note: {entry['held_out_note']}")
    print("  lessons 04 and 07 use it in the full tier "
          "(pretrained.load_model('food11_classifier', tier='full'))")
    return 0


def _verify(args) -> int:
    from course_utils.checkpoints import MANIFEST, read_manifest, sha256_of
    from course_utils.config import checkpoint_dir

    def check(folder) -> int:
        manifest = read_manifest(folder)
        bad = 0
        for name, entry in sorted(manifest.items()):
            path = folder / entry["file"]
            ok = path.is_file() and sha256_of(path) == entry["sha256"]
            bad += not ok
            acc = entry.get("test_accuracy")
            print(f"{'ok ' if ok else 'BAD'} {name:20s} {entry['file']:24s} "
                  + (f"acc={acc:.4f}" if acc is not None else "acc not measured"))
        listed = {e["file"] for e in manifest.values()}
        for path in sorted(folder.glob("*.pt")):
            if path.name not in listed:
                bad += 1
                print(f"BAD {path.name}: not listed in the manifest")
        return bad

    folder = checkpoint_dir()
    bad = check(folder)
    # The committed checkpoints' budget; checkpoints/full/ (yours, git-ignored) is not in it.
    size = sum(p.stat().st_size for p in folder.rglob("*")
               if p.is_file() and "full" not in p.relative_to(folder).parts[:1])
    print(f"checkpoints/: {size / 2**20:.1f} MiB committed (budget 60 MiB)")
    if (folder / "full" / MANIFEST).is_file():
        print("checkpoints/full/ (trained or imported by you, not committed):")
        bad += check(folder / "full")
    return 1 if bad or size > 60 * 2**20 else 0


def _info(args) -> int:
    from course_utils import config, lessons

    tiers = {}
    for lesson in lessons.LESSON_NEEDS:  # what each lesson would run on now, and what it lacks
        try:
            decision = lessons.decide(lesson)
        except config.CourseDataError as err:
            tiers[lesson] = {"tier": "error", "why": str(err)}
            continue
        tiers[lesson] = {"tier": decision.tier,
                         "missing": [f"{n.what}: {n.how} ({n.cost})" for n in decision.missing]}
    print(json.dumps({"COURSE_DATA": config.requested_tier(), "data_dir": str(config.data_dir()),
                      "checkpoint_dir": str(config.checkpoint_dir()),
                      "device": str(config.get_device()), "lessons": tiers}, indent=2))
    return 0


def _bench(args) -> int:
    from . import bench

    return bench.bench(quick=args.quick, out=args.out, threads=args.threads)


def _prose_check(args) -> int:
    from . import prose_numbers

    argv = [str(p) for p in args.notebooks] + ["--allowlist", str(args.allowlist)]
    return prose_numbers.main(argv + (["--verbose"] if args.verbose else []))


def _grade(args) -> int:
    from pathlib import Path

    from . import grader

    try:
        if args.action == "release":
            for lesson, path in grader.release(args.lessons, Path(args.course_dir)).items():
                print(f"{lesson}: {path}")
            return 0
        if args.action == "check":
            results = grader.check(args.lessons, timeout=args.timeout, full=args.full)
            for r in results:
                print(f"{r.lesson:28s} {r.exercises} exercises, {r.points:4.1f} points, "
                      f"{r.seconds:4.1f} s  " + ("ok" if not r.problems else "PROBLEMS"))
                for problem in r.problems:
                    print(f"    {problem}")
            return 1 if any(r.problems for r in results) else 0
        if args.action == "autograde":
            if not args.submissions:
                print("give the submissions folder: course grade autograde FOLDER", file=sys.stderr)
                return 2
            grader.autograde(Path(args.submissions), Path(args.course_dir), args.lessons,
                             timeout=args.timeout, memory_gib=args.memory_gib,
                             file_mib=args.file_mib, csv_path=Path(args.csv),
                             use_sandbox=False if args.no_sandbox else None, jobs=args.jobs,
                             scheduler=args.scheduler)
            print(f"grades: {args.csv} (and {Path(args.csv).stem}_by_exercise.csv); feedback: "
                  f"{Path(args.course_dir) / 'feedback'}")
            return 0
        if args.action == "bench":
            from . import grade_bench

            return grade_bench.main(args)
        from . import selftest

        return selftest.run(Path(args.submissions) if args.submissions else selftest.SAMPLES,
                            timeout=args.timeout, jobs=args.jobs, scheduler=args.scheduler,
                            use_sandbox=False if args.no_sandbox else None)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"course grade {args.action}: {err}", file=sys.stderr)
        return 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="re-create a checkpoint from its recipe (or 'all')")
    train.add_argument("name", nargs="?", help="a checkpoint name, or all")
    train.add_argument("--all", action="store_true", help=argparse.SUPPRESS)  # explained, refused
    train.add_argument("--tier", choices=["offline", "full"], default="offline")
    train.add_argument("--epochs", type=_positive(int), default=None,
                       help="override the recipe's epochs (quick trials; recorded in the "
                       "full tier's manifest entry)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--no-rgb-conversion", action="store_true",
                       help="food-11: refuse greyscale/CMYK/palette files instead of converting "
                       "them to RGB (the default)")
    train.set_defaults(func=_train)
    imp = sub.add_parser("import-homework-checkpoint",
                         help="use the food-11 homework's own checkpoint.pth as the full tier's "
                         "food11_classifier")
    imp.add_argument("path", help="the homework's checkpoint.pth (model.state_dict() of its "
                     "Classifier, possibly under 'model_state_dict' or with 'module.' prefixes)")
    imp.add_argument("--no-measure", action="store_true",
                     help="do not measure its accuracy on food-11's held-out split")
    imp.add_argument("--no-rgb-conversion", action="store_true",
                     help="food-11: refuse non-RGB files when measuring instead of converting")
    imp.set_defaults(func=_import_homework)
    verify = sub.add_parser("verify", help="check every checkpoint against the manifest")
    verify.set_defaults(func=_verify)
    info = sub.add_parser("info", help="print the tier, folders and device in use, and the "
                          "tier each lesson would run in now (with what the full tier lacks)")
    info.set_defaults(func=_info)
    bench = sub.add_parser("bench", help="time the explanation methods against reference "
                           "libraries and the floor; write a Markdown table")
    bench.add_argument("--quick", action="store_true",
                       help="tiny inputs, 100 LIME samples, 2 rounds (under a minute; for tests)")
    bench.add_argument("--out", default="benchmarks/RESULTS.md",
                       help="Markdown file to write (default benchmarks/RESULTS.md)")
    bench.add_argument("--threads", type=_positive(int), default=2,
                       help="torch threads (default 2, the course's setting; 1 on a busy machine)")
    bench.set_defaults(func=_bench)
    prose = sub.add_parser("prose-check", help="numbers in the lessons' markdown that no output, "
                           "code cell or allowlist entry backs (stale prose); exit 1 if any")
    prose.add_argument("notebooks", nargs="*", help="lesson notebooks (default: all)")
    prose.add_argument("--allowlist",
                       default=str(REPO_ROOT / "notebooks" / "prose_numbers_allow.toml"),
                       help="literature/source values with reasons (default: "
                       "notebooks/prose_numbers_allow.toml)")
    prose.add_argument("-v", "--verbose", action="store_true",
                       help="also list the matched numbers and where each was found")
    prose.set_defaults(func=_prose_check)
    grade = sub.add_parser("grade", help="the lessons as nbgrader assignments (instructors)",
                           description="release: generate the student versions; check: the "
                           "source passes its tests and the release leaks nothing and fails them; "
                           "autograde: grade a folder of submissions into a CSV and feedback; "
                           "selftest [DIR]: grade the sample submissions in DIR (default "
                           "tests/grading/samples) and compare with their expected scores; "
                           "bench: grading throughput on copies of a sample")
    grade.add_argument("action", choices=["release", "check", "autograde", "selftest", "bench"])
    grade.add_argument("submissions", nargs="?",
                       help="autograde: folder of <student>/<lesson>/<lesson>.ipynb; "
                       "selftest: folder of sample files (*.py)")
    grade.add_argument("--lessons", nargs="*", default=None,
                       help="lessons by name or number (default: all with exercises)")
    grade.add_argument("--course-dir", default=str(DEFAULT_COURSE_DIR),
                       help="nbgrader course directory (default: grading/ in the repository)")
    grade.add_argument("--timeout", type=_positive(int), default=None,
                       help="seconds per exercise (default 120; selftest and bench 10)")
    grade.add_argument("--jobs", type=int, default=None,
                       help="submissions graded at once on this machine (default: 1; selftest 2)")
    grade.add_argument("--scheduler", default=None,
                       help="grade on a Dask distributed cluster at this address (tcp://host:8786); "
                       "default: none, this machine")
    grade.add_argument("-n", "--count", type=_positive(int), default=20,
                       help="bench: how many copies of the sample to grade")
    grade.add_argument("--sample", default="full", help="bench: which sample (default full)")
    grade.add_argument("--memory-gib", type=_positive(float), default=6.0, help="memory limit per submission")
    grade.add_argument("--file-mib", type=_positive(float), default=256.0, help="largest file a submission may write")
    grade.add_argument("--csv", default="grades.csv", help="autograde: the grades file to write")
    grade.add_argument("--full", action="store_true",
                       help="check: run whole lessons, not only their exercise cells (minutes)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="autograde/selftest without the namespace sandbox even where it is "
                       "available (what grading does on a machine without user namespaces)")
    grade.set_defaults(func=_grade)
    args = parser.parse_args(argv)
    if args.command == "grade" and args.timeout is None:
        args.timeout = 10 if args.action in ("selftest", "bench") else 120
    if args.command == "grade" and args.jobs is None:
        args.jobs = 2 if args.action in ("selftest", "bench") else 1
    if args.command == "grade" and args.jobs < 1:
        parser.error("--jobs must be 1 or more")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
