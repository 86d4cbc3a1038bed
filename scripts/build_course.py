#!/usr/bin/env python3
"""Execute every lesson notebook and render the course as browsable HTML.

    python scripts/build_course.py --out build      # make course: build/notebooks + build/html/index.html
    python scripts/build_course.py --in-place --check-env "ATEN_CPU_CAPABILITY=default ..."
                                                    # make refresh: rewrite the committed outputs

The committed notebooks are never touched unless --in-place is given. With --in-place the fresh
notebooks are first written to build/refresh/ and re-executed by nbval under the arithmetic that
--check-env describes (the Makefile passes ATen's scalar kernels and lowered MKL/oneDNN
instruction sets): only if every compared output comes out the same are they copied over
notebooks/. An output that changes with the arithmetic would fail on another CPU kind, so it is
refused, and the committed notebooks stay as they were.
"""
from __future__ import annotations

import argparse
import html
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("# ").strip()
    return "untitled"


def execute(path: Path, timeout: int) -> tuple[nbformat.NotebookNode, float]:
    nb = nbformat.read(path, as_version=4)
    start = time.time()
    # record_timing=False: no timestamps in cell metadata, so refreshed notebooks diff cleanly.
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb, time.time() - start


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
        out_nb.mkdir(parents=True, exist_ok=True)
        out_html.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    rows, failed = [], 0
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        try:
            nb, seconds = execute(path, args.timeout)
        except Exception as exc:  # keep going: the index shows which lesson failed
            failed += 1
            print(f"  FAILED: {type(exc).__name__}: {str(exc)[:2000]}", flush=True)
            rows.append((path.stem, path.stem, None))
            continue
        print(f"  done in {seconds:.0f} s", flush=True)
        if args.in_place:
            nbformat.write(nb, staged / path.name)
        else:
            nbformat.write(nb, out_nb / path.name)
            body, _ = exporter.from_notebook_node(nb)
            (out_html / f"{path.stem}.html").write_text(body, encoding="utf-8")
        rows.append((path.stem, title_of(nb), seconds))
    if args.in_place:
        fresh = [staged / p.name for p in paths]
        if failed:
            print(f"{failed} notebook(s) failed to run: notebooks/ left unchanged; the others are in "
                  f"{staged}", file=sys.stderr)
            return 1
        if args.check_env and not survives_other_arithmetic(fresh, args.check_env):
            print(f"REFUSED: some outputs change under {args.check_env} (see the nbval report "
                  "above), so they would fail on another CPU kind. notebooks/ left unchanged; the "
                  f"fresh notebooks are in {staged}. Compute those numbers in a well-conditioned way "
                  "or print them at the precision they hold, then refresh again.", file=sys.stderr)
            return 1
        for nb_path, path in zip(fresh, paths):
            shutil.copyfile(nb_path, path)
        print(f"wrote {len(fresh)} notebook(s) in place"
              + (f", checked under {args.check_env}" if args.check_env else ", NOT checked under other arithmetic"))
        return 0
    else:
        items = "\n".join(
            f'<li><a href="{html.escape(stem)}.html">{html.escape(title)}</a> '
            f'<small>({seconds:.0f} s)</small></li>' if seconds is not None else
            f"<li>{html.escape(stem)}: <b>failed to run</b> (see the console output)</li>"
            for stem, title, seconds in rows)
        (out_html / "index.html").write_text(
            "<!doctype html><meta charset='utf-8'><title>Seeing inside convolutional networks</title>"
            "<h1>Seeing inside convolutional networks</h1>"
            f"<p>Lessons executed in the offline tier.</p><ol>{items}</ol>\n", encoding="utf-8")
        print(f"open {out_html / 'index.html'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
