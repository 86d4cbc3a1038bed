"""Graded exercises: checks on the nbgrader metadata of the lesson notebooks.

The lesson notebooks are the instructor's source (see "Assignments and grading" in DESIGN.md):
each exercise is a *solution cell* (a function whose body sits between ``### BEGIN SOLUTION`` and
``### END SOLUTION``) followed by an autograded *test cell* (visible asserts, then hidden ones
between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``). nbgrader does the release and
the grading; this module holds what nbgrader does not: the exercise-only notebooks that let CI
check every lesson's exercises in seconds, and the search of a release for leaked solutions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_solution(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution")) and cell.cell_type == "code"


def is_test(cell) -> bool:
    return bool(nbgrader_meta(cell).get("grade")) and cell.cell_type == "code" \
        and not nbgrader_meta(cell).get("solution")


def graded_cells(nb) -> list:
    return [c for c in nb.cells if is_solution(c) or is_test(c)]


def exercise_only(nb) -> nbformat.NotebookNode:
    """The notebook's first code cell (imports, data, model) plus its solution and test cells.

    Exercises are written to need nothing else, so this runs in seconds and still checks the
    exact cells that nbgrader grades."""
    first = next((c for c in nb.cells if c.cell_type == "code"), None)
    if first is None or not graded_cells(nb):
        raise ValueError("notebook has no code cell or no graded exercise cells")
    out = nbformat.v4.new_notebook(metadata=nb.metadata)
    out.cells = [first] + graded_cells(nb)
    return out


def student_version(nb) -> nbformat.NotebookNode:
    """What nbgrader's release does to the cells: solutions stubbed, hidden tests removed."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions

    nb = nbformat.from_dict(nb)
    nb, _ = ClearSolutions().preprocess(nb, {})
    nb, _ = ClearHiddenTests().preprocess(nb, {})
    return nb


def _region_lines(source: str, begin: str, end: str) -> list[str]:
    lines, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(begin):
            inside = True
        elif stripped.startswith(end):
            inside = False
        elif inside and len(stripped) >= 12 and not stripped.startswith("#"):
            lines.append(stripped)
    return lines


def secret_lines(source_nb) -> list[str]:
    """Every non-trivial line of the source's solution regions and hidden tests (a release
    containing any of them verbatim leaks the answer)."""
    secrets = []
    for cell in graded_cells(source_nb):
        secrets += _region_lines(cell.source, SOLUTION_BEGIN, SOLUTION_END)
        secrets += _region_lines(cell.source, HIDDEN_BEGIN, HIDDEN_END)
    return secrets


def visible_lines(source_nb) -> set[str]:
    """Stripped lines that the source shows outside its solution and hidden-test regions (a
    secret line that is also one of these gives nothing away)."""
    visible = set()
    for cell in source_nb.cells:
        inside = False
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped.startswith((SOLUTION_BEGIN, HIDDEN_BEGIN)):
                inside = True
            elif stripped.startswith((SOLUTION_END, HIDDEN_END)):
                inside = False
            elif not inside:
                visible.add(stripped)
    return visible


def find_leaks(source_nb, release_nb) -> list[str]:
    """Solution or hidden-test text found in a release notebook (markers or verbatim lines)."""
    visible = visible_lines(source_nb)
    release_text = "\n".join(c.source for c in release_nb.cells)
    release_lines = {ln.strip() for ln in release_text.splitlines()}
    leaks = [m for m in (SOLUTION_BEGIN, SOLUTION_END, HIDDEN_BEGIN, HIDDEN_END) if m in release_text]
    leaks += [ln for ln in secret_lines(source_nb) if ln in release_lines and ln not in visible]
    return leaks


@dataclass
class CellResult:
    grade_id: str
    kind: str  # "setup", "solution" or "test"
    error: str | None  # exception name and message, None when the cell ran cleanly
    points: float = 0.0  # the cell's maximum
    score: float | None = None  # nbgrader's score for a test cell (0 on an error *or* stderr)


@dataclass
class RunResult:
    cells: list[CellResult] = field(default_factory=list)

    def by_kind(self, kind: str) -> list[CellResult]:
        return [c for c in self.cells if c.kind == kind]


def run_cells(nb, cwd: Path, timeout: int = 60, kernel_name: str = "python3") -> RunResult:
    """Execute ``nb`` in a fresh kernel (errors allowed) and report each cell's outcome."""
    from nbclient import NotebookClient
    from nbgrader.utils import determine_grade

    nb = nbformat.from_dict(nb)
    NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, allow_errors=True,
                   record_timing=False, resources={"metadata": {"path": str(cwd)}}).execute()
    result = RunResult()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = nbgrader_meta(cell)
        kind = "solution" if is_solution(cell) else "test" if is_test(cell) else "setup"
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        error = f"{errors[0]['ename']}: {errors[0]['evalue']}"[:300] if errors else None
        score = determine_grade(cell)[0] if kind == "test" else None
        result.cells.append(CellResult(meta.get("grade_id", "(setup)"), kind, error,
                                       float(meta.get("points", 0) or 0), score))
    return result


def strip_hidden_tests(source: str) -> str:
    """``source`` without its ``### BEGIN/END HIDDEN TESTS`` region (unchanged without both)."""
    lines = source.splitlines()
    begin = next((i for i, ln in enumerate(lines) if ln.strip().startswith(HIDDEN_BEGIN)), None)
    end = next((i for i, ln in enumerate(lines) if ln.strip().startswith(HIDDEN_END)), None)
    if begin is None or end is None or end < begin:
        return source
    return "\n".join(lines[:begin] + lines[end + 1:])


class HideHiddenTests(Preprocessor):
    """Feedback pages: drop the hidden tests' code from the *test* cells only. (nbgrader's
    ClearHiddenTests looks at every cell, so a student's own cell that merely mentions the
    marker made the whole feedback page fail.)"""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.enabled = True  # nbconvert's preprocessors are off unless switched on

    def preprocess_cell(self, cell, resources, index):
        if is_test(cell):
            cell.source = strip_hidden_tests(cell.source)
        return cell, resources
