#!/usr/bin/env python3
"""Execute every lesson notebook once and build the course site from the executed notebooks.

    python scripts/build_course.py --out build      # make course: build/notebooks + build/html/index.html
    python scripts/build_course.py --in-place --check-env "ATEN_CPU_CAPABILITY=default ..."
                                                    # make refresh: rewrite the committed outputs

Without --in-place each lesson runs once into build/notebooks/ (with runs.json: how long each took,
which failed and why), then ``course_tools.site`` builds the site into build/html/ from those
executed notebooks without running them again (Sphinx, myst-nb with execution off,
sphinx-book-theme; see site/conf.py). A lesson that fails does not stop the others, but its page
and the course map say it failed and the exit status is non-zero.

The committed notebooks are never touched unless --in-place is given. With --in-place the fresh
notebooks are first written to build/refresh/ and re-executed by nbval under the arithmetic that
--check-env describes (the Makefile passes ATen's scalar kernels and lowered MKL/oneDNN
instruction sets): only if every compared output comes out the same are they copied over
notebooks/. An output that changes with the arithmetic would fail on another CPU kind, so it is
refused, and the committed notebooks stay as they were.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
RELEASE = ROOT / "grading" / "release"        # `course grade release` (make release) writes here


def execute(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, float, str | None]:
    """Run ``path``; returns the notebook (as far as it got), the seconds and the error if any."""
    nb = nbformat.read(path, as_version=4)
    start = time.time()
    error = None
    try:
        # record_timing=False: no timestamps in cell metadata, so refreshed notebooks diff cleanly.
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except Exception as exc:  # keep going: the other lessons still run, the site marks this one
        error = f"{type(exc).__name__}: {exc}"
    return nb, time.time() - start, error


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def survives_other_arithmetic(paths: list[Path], check_env: str) -> bool:
    """nbval over ``paths`` with ``check_env`` ("VAR=value ...") added to the environment."""
    env = dict(os.environ)
    env.update(item.split("=", 1) for item in check_env.split())
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
           "--nbval", "--nbval-current-env", "--nbval-sanitize-with",
           str(ROOT / "tests" / "nbval_sanitize.cfg"), "--nbval-cell-timeout", "600",
           *map(str, paths)]
    print(f"checking the fresh outputs under {check_env} ...", flush=True)
    return subprocess.run(cmd, env=env, cwd=ROOT).returncode == 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--in-place", action="store_true", help="rewrite notebooks/ with fresh outputs")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--check-env", default="",
                        help="with --in-place: VAR=value pairs under which nbval must reproduce the "
                             "fresh outputs before they replace the committed ones")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    args = parser.parse_args(argv)

    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print(f"no notebooks found in {NOTEBOOKS}", file=sys.stderr)
        return 1
    out_nb, out_html = args.out / "notebooks", args.out / "html"
    staged = args.out / "refresh"
    if args.in_place:
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
    else:
        shutil.rmtree(out_nb, ignore_errors=True)   # no stale lesson from an earlier build
        out_nb.mkdir(parents=True)
    runs, failed, start = {}, [], time.time()
    for i, path in enumerate(paths, 1):
        print(f"[{i}/{len(paths)}] running {path.name} ...", flush=True)
        nb, seconds, error = execute(path, args.timeout)
        runs[path.stem] = {"seconds": round(seconds, 1), "error": error}
        if error:
            failed.append(path.name)
            print(f"  FAILED after {minutes(seconds)}: {error[:2000]}", flush=True)
        else:
            print(f"  done in {minutes(seconds)} (total {minutes(time.time() - start)})", flush=True)
        if args.in_place:
            if not error:
                nbformat.write(nb, staged / path.name)
        else:
            nbformat.write(nb, out_nb / path.name)   # a failed one too: its page shows the error
    print(f"ran {len(paths) - len(failed)}/{len(paths)} lesson(s) in {minutes(time.time() - start)}"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""), flush=True)
    if args.in_place:
        fresh = [staged / p.name for p in paths]
        if failed:
            print(f"{len(failed)} notebook(s) failed to run ({', '.join(failed)}): notebooks/ left "
                  f"unchanged; the others are in "
                  f"{staged}", file=sys.stderr)
            return 1
        if args.check_env and not survives_other_arithmetic(fresh, args.check_env):
            print(f"REFUSED: some outputs change under {args.check_env} (see the nbval report "
                  "above), so they would fail on another CPU kind. notebooks/ left unchanged; the "
                  f"fresh notebooks are in {staged}. Compute those numbers in a well-conditioned way "
                  "or print them at the precision they hold, then refresh again.", file=sys.stderr)
            return 1
        if args.check_env:  # passed: record it, so that CI need not repeat the same check
            from course_tools.portability import stamp
            for nb_path in fresh:
                stamp(nb_path, args.check_env)
        for nb_path, path in zip(fresh, paths):
            shutil.copyfile(nb_path, path)
        print(f"wrote {len(fresh)} notebook(s) in place"
              + (f", checked under {args.check_env}" if args.check_env else ", NOT checked under other arithmetic"))
        return 0
    (out_nb / "runs.json").write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
    sys.path.insert(0, str(ROOT))
    from course_tools.site import SiteError, build_site

    release = RELEASE if RELEASE.is_dir() else None
    try:
        build_site(out_nb, out_html, runs=runs, release_dir=release,
                   student_kit=RELEASE.parent / "student-kit.zip" if release else None)
    except SiteError as err:
        print(f"SITE FAILED: {err}", file=sys.stderr)
        return 1
    if failed:
        print(f"FAILED: {len(failed)} lesson(s) did not run: {', '.join(failed)} (their pages and "
              "the course map say so; the errors are printed above)", file=sys.stderr)
        return 1
    print(f"make course: {len(paths)} lessons and the site in {minutes(time.time() - start)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
