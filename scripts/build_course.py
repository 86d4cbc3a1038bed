#!/usr/bin/env python3
"""Execute every lesson notebook and render the course as browsable HTML.

    python scripts/build_course.py --out build      # make course: build/notebooks + build/html/index.html
    python scripts/build_course.py --in-place       # make refresh: rewrite the committed outputs

The committed notebooks are never touched unless --in-place is given.
"""
from __future__ import annotations

import argparse
import html
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--in-place", action="store_true", help="rewrite notebooks/ with fresh outputs")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    args = parser.parse_args(argv)

    paths = args.notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        print(f"no notebooks found in {NOTEBOOKS}", file=sys.stderr)
        return 1
    out_nb, out_html = args.out / "notebooks", args.out / "html"
    if not args.in_place:
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
            nbformat.write(nb, path)
        else:
            nbformat.write(nb, out_nb / path.name)
            body, _ = exporter.from_notebook_node(nb)
            (out_html / f"{path.stem}.html").write_text(body, encoding="utf-8")
        rows.append((path.stem, title_of(nb), seconds))
    if not args.in_place:
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
