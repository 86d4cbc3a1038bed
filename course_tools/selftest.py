"""The grader's self-test: grade the sample submissions in tests/grading/samples as a class
would be graded and compare every exercise's score with the one the sample expects.

A sample is a ``.py`` file: ``# key: value`` header lines (``lesson``, ``expected``, and
optionally ``build``, ``sandboxed-output``, ``expected-note``, ``layout``), then
``# %% <grade_id>`` sections holding what the "student" put in those cells. ``course grade
selftest [DIR]`` runs :func:`run`; it returns 0 when every score, the exported grades, the
expected notes, the sandboxed outputs and the feedback pages (no hidden test shown) are right.
"""
from __future__ import annotations

import csv
import html
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.paths import REPO_ROOT

from . import grader, grading, sandbox

SAMPLES = REPO_ROOT / "tests" / "grading" / "samples"


@dataclass
class Sample:
    """One sample submission: a release with some cells replaced (see tests/grading/samples)."""
    name: str
    lesson: str
    build: str  # "release": start from the student release; "solutions": fill in the source's
    expected: dict[str, float]
    cells: dict[str, str]  # grade_id -> the source the "student" put in that cell
    sandboxed_output: str | None = None  # must appear in its outputs when the sandbox is on
    expected_note: str | None = None  # must appear in the grader's notes on it
    layout: str = "nbgrader"  # "nbgrader": <student>/<lesson>/<nb>; "flat": <student>/<nb>


def read_sample(path: Path) -> Sample:
    """Parse a sample: ``# key: value`` header lines, then ``# %% <grade_id>`` sections."""
    header, cells, current = {}, {}, None
    for line in Path(path).read_text().splitlines():
        if line.startswith("# %% "):
            current = line[5:].strip()
            cells[current] = []
        elif current is not None:
            cells[current].append(line)
        else:
            m = re.match(r"#\s*([a-z-]+):\s*(.*)$", line)
            if m:
                header[m.group(1)] = m.group(2).strip()
    try:
        expected = {k: float(v) for k, v in (kv.split("=") for kv in header["expected"].split())}
        lesson = header["lesson"]
    except (KeyError, ValueError) as err:
        raise ValueError(f"{path}: needs '# lesson: NAME' and '# expected: grade_id=points ...' "
                         f"header lines ({err})") from None
    return Sample(Path(path).stem, lesson, header.get("build", "release"), expected,
                  {k: "\n".join(v).strip() + "\n" for k, v in cells.items()},
                  header.get("sandboxed-output"), header.get("expected-note"),
                  header.get("layout", "nbgrader"))


def build_submission(sample: Sample, release_nb, source_nb):
    """The notebook a student would hand in for ``sample``."""
    nb = nbformat.from_dict(release_nb)
    by_id = {grading.nbgrader_meta(c).get("grade_id"): c for c in nb.cells}
    if sample.build == "solutions":
        for cell in grading.graded_cells(source_nb):
            if grading.is_solution(cell):
                by_id[grading.nbgrader_meta(cell)["grade_id"]].source = "\n".join(
                    ln for ln in cell.source.splitlines()
                    if ln.strip() not in (grading.SOLUTION_BEGIN, grading.SOLUTION_END))
    elif sample.build != "release":
        raise ValueError(f"sample {sample.name}: build must be 'release' or 'solutions'")
    for gid, source in sample.cells.items():
        if gid not in by_id:
            raise ValueError(f"sample {sample.name}: no cell with grade_id {gid!r} in "
                             f"{sample.lesson}; choose from {sorted(k for k in by_id if k)}")
        by_id[gid].source = source
    return nb


def load_samples(samples_dir: Path) -> list[Sample]:
    """Every sample in ``samples_dir``; clear errors for a missing folder or unknown lessons."""
    if not Path(samples_dir).is_dir():
        raise FileNotFoundError(f"no samples folder at {samples_dir}")
    samples = [read_sample(p) for p in sorted(Path(samples_dir).glob("*.py"))]
    if not samples:
        raise FileNotFoundError(f"no sample submissions (*.py) in {samples_dir}")
    unknown = sorted({s.lesson for s in samples} - set(grader.lesson_notebooks()))
    if unknown:
        raise ValueError(f"samples for unknown lesson(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(grader.lesson_notebooks())}")
    return samples


def _write_submissions(samples: list[Sample], released: dict[str, Path], subs: Path) -> None:
    """Each sample as a student's hand-in under ``subs`` (in its sample's layout)."""
    for s in samples:
        rel = nbformat.read(released[s.lesson], as_version=4)
        src = nbformat.read(grader.lesson_notebooks()[s.lesson], as_version=4)
        folder = s.lesson if s.layout == "nbgrader" else ""
        target = subs / s.name / folder / released[s.lesson].name
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(build_submission(s, rel, src), target)


def _sample_failures(s: Sample, g: grader.Graded, exported: dict, use_sandbox: bool,
                     log) -> list[str]:
    """What is wrong with how sample ``s`` was graded (``g``); logs its score table rows."""
    failures = []
    for gid, want in s.expected.items():
        have = g.scores.get(gid)
        mark = "" if have == want else "   <-- MISMATCH"
        log(f"{s.name:12s} {gid:32s} {want:8.1f} {have if have is not None else float('nan'):7.1f}{mark}")
        if have != want:
            failures.append(f"{s.name} {gid}: expected {want}, graded {have}")
    if abs(exported.get((s.name, s.lesson), -1) - sum(s.expected.values())) > 1e-9:
        failures.append(f"{s.name}: nbgrader export says {exported.get((s.name, s.lesson))}, "
                        f"expected {sum(s.expected.values())}")
    if s.expected_note and not any(s.expected_note in n for n in g.notes):
        failures.append(f"{s.name}: the grader should note {s.expected_note!r}; "
                        f"its notes: {g.notes}")
    if s.sandboxed_output:
        text = "".join(str(r.get("output", "")) for r in g.outcomes.values())
        line = next((ln for ln in text.splitlines() if s.sandboxed_output.split(":")[0] in ln), "")
        if use_sandbox and s.sandboxed_output not in text:
            failures.append(f"{s.name}: its output should say {s.sandboxed_output!r} in the "
                            f"sandbox, it says {line!r}")
        log(f"{s.name:12s} said: {line}" + ("" if use_sandbox else
            "   (no sandbox: what it found is what it could read)"))
    return failures


def _feedback_failures(samples: list[Sample], course: Path) -> list[str]:
    """Feedback leaves the hidden tests' code out. A passing submission's page has no traceback
    (where a failing hidden assert is shown, on purpose), so none of the hidden tests' lines may
    appear on it."""
    failures = []
    for s in (s for s in samples if s.build == "solutions"):
        source = nbformat.read(grader.lesson_notebooks()[s.lesson], as_version=4)
        hidden = [ln for c in grading.graded_cells(source)
                  for ln in grading._region_lines(c.source, grading.HIDDEN_BEGIN, grading.HIDDEN_END)
                  if ln not in grading.visible_lines(source)]
        for page in (course / "feedback" / s.name).rglob("*.html"):
            text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(errors="ignore")))
            shown = [ln for ln in hidden if ln in text]
            if shown or "HIDDEN TESTS" in text:
                failures.append(f"{page.relative_to(course)} shows hidden tests: {shown[:2]}")
    return failures


def run(samples_dir: Path = SAMPLES, timeout: int = 10, log=print,
        use_sandbox: bool | None = None, jobs: int = 2, scheduler: str | None = None) -> int:
    """Release, grade every sample submission as a class would be graded, and compare each
    exercise's score with the sample's expected one. Returns 0 when all match."""
    samples = load_samples(samples_dir)
    use_sandbox = sandbox.available() if use_sandbox is None else use_sandbox
    failures = []
    with tempfile.TemporaryDirectory(prefix="course-grade-selftest-") as tmp:
        course, subs = Path(tmp) / "course", Path(tmp) / "submitted"
        released = grader.release(sorted({s.lesson for s in samples}), course)
        _write_submissions(samples, released, subs)
        log(f"grading {len(samples)} sample submissions ({'sandboxed' if use_sandbox else 'NO sandbox'}, "
            f"{timeout} s per exercise)")
        results = grader.autograde(subs, course, timeout=timeout, csv_path=Path(tmp) / "grades.csv",
                                   use_sandbox=use_sandbox, jobs=jobs, scheduler=scheduler, log=log)
        got = {(g.student, g.assignment): g for g in results}
        with open(Path(tmp) / "grades.csv") as fh:
            exported = {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(fh)}
        log("")
        log(f"{'sample':12s} {'exercise':32s} {'expected':>8s} {'graded':>7s}")
        for s in samples:
            g = got.get((s.name, s.lesson))
            if g is None:
                failures.append(f"{s.name}: not graded")
                continue
            failures += _sample_failures(s, g, exported, use_sandbox, log)
        feedback = sorted((course / "feedback").glob("*/*/*.html"))
        log(f"\nfeedback files: {len(feedback)}; grades CSV rows: {len(exported)}")
        if len(feedback) != len(samples):
            failures.append(f"expected {len(samples)} feedback files, found {len(feedback)}")
        failures += _feedback_failures(samples, course)
    for f in failures:
        log(f"FAIL {f}")
    log("self-test " + ("passed" if not failures else f"FAILED ({len(failures)} problems)"))
    return 1 if failures else 0
