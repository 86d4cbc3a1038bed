"""Which lessons' committed outputs still need the check under perturbed arithmetic.

``make refresh`` re-executes lessons and refuses outputs that nbval cannot reproduce under other
arithmetic (ATen's scalar kernels, lowered MKL/oneDNN instruction sets: see the Makefile). When
the check passes it stamps each notebook with a digest of its code cells (sources and outputs)
and the environment it was checked under. A later run of the same check on the same code and
outputs cannot give another answer (every package is pinned), so ``make nbval-perturbed`` re-runs
it only for the lessons whose digest no longer matches their stamp: outputs edited by hand, a
lesson executed in JupyterLab and committed, or a stamp from another check. Any change to a
code cell or an output invalidates the stamp.

    python -m course_tools.portability pending --check-env "VAR=value ..." notebooks/0*.ipynb
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import nbformat

STAMP_KEY = "course_portability"


def digest(nb: nbformat.NotebookNode) -> str:
    """sha256 of every code cell's source and outputs, in order (metadata excluded)."""
    cells = [{"source": c.source, "outputs": c.get("outputs", [])}
             for c in nb.cells if c.cell_type == "code"]
    return hashlib.sha256(json.dumps(cells, sort_keys=True).encode("utf-8")).hexdigest()


def stamp(path: Path, check_env: str) -> None:
    """Record that ``path``'s outputs passed nbval under ``check_env`` (call only after it did)."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata[STAMP_KEY] = {"digest": digest(nb), "checked_under": " ".join(check_env.split())}
    nbformat.write(nb, path)


def is_stamped(path: Path, check_env: str) -> bool:
    """Whether ``path`` carries a stamp for ``check_env`` that matches its code and outputs."""
    nb = nbformat.read(path, as_version=4)
    record = nb.metadata.get(STAMP_KEY) or {}
    return (record.get("checked_under") == " ".join(check_env.split())
            and record.get("digest") == digest(nb))


def pending(paths, check_env: str) -> list[Path]:
    """The notebooks among ``paths`` whose outputs have not been checked under ``check_env``."""
    return [Path(p) for p in paths if not is_stamped(Path(p), check_env)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_tools.portability",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("pending", "stamp"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--check-env", required=True)
        cmd.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    missing = [p for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(map(str, missing))}")
    if args.command == "stamp":
        for path in args.notebooks:
            stamp(path, args.check_env)
        return 0
    for path in pending(args.notebooks, args.check_env):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
