"""The lessons as nbgrader assignments: release, check, autograde, feedback, export.

One nbgrader course directory (default ``grading/`` in the repository, not committed) holds one
assignment per lesson, named after the notebook (``05_cam_resnet18``). The lesson notebooks in
``notebooks/`` are the source: ``release`` copies them to ``source/`` and lets nbgrader generate
the student version; nothing is edited by hand.

Grading is nbgrader's ``autograde``, wrapped so that a broken or hostile submission costs only
its own points:

- every submission is graded in its **own scratch course directory** (a copy of the submission
  and of the gradebook, in fresh temporary folders), by its own ``nbgrader autograde`` process
  with its own kernel, under a per-cell timeout, a limit on the whole run, a memory limit and a
  file-size limit;
- the kernel runs in :mod:`course_tools.sandbox` where the machine allows it: the course
  directory, the submissions folder, the scratch gradebook, /tmp (apart from the submission's
  own working copy) and the repository's notebooks/ tests/ .git/ build/ grading/ are hidden
  from it, and so are the grader's processes;
- scores are read back from the scratch gradebook, checked against nbgrader's own rule applied
  to the graded notebook, and only then written into the course's gradebook (whose checksum is
  compared before and after each run: a change is undone and reported); edited locked cells
  are restored by nbgrader and reported here; feedback pages leave the hidden tests' code out.
"""
from __future__ import annotations

import csv
import hashlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_utils.paths import REPO_ROOT as REPO

from . import exercise_runner as runner
from . import grading, sandbox

NOTEBOOKS = REPO / "notebooks"
DEFAULT_COURSE_DIR = REPO / "grading"
COURSE_ID = "seeing-inside-cnns"
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SANDBOX_KERNEL = "course-sandbox"


# ----------------------------------------------------------------------------------------------
# lessons and the course directory
def lesson_notebooks() -> dict[str, Path]:
    """Every lesson notebook with graded exercises, by assignment name (the notebook's stem)."""
    found = {}
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        if grading.graded_cells(nbformat.read(path, as_version=4)):
            found[path.stem] = path
    return found


def resolve_lessons(names: list[str] | None) -> list[str]:
    """``["05"]`` or ``["05_cam_resnet18"]`` -> assignment names; None or [] -> every lesson."""
    lessons = lesson_notebooks()
    if not names:
        return list(lessons)
    chosen = []
    for name in names:
        match = [a for a in lessons if a == name or a.split("_", 1)[0] == name]
        if len(match) != 1:
            raise ValueError(f"unknown lesson {name!r}; choose from: {', '.join(lessons)} "
                             "(or their numbers: 01, 02, ...)")
        chosen.append(match[0])
    return chosen


def _ensure_venv_on_path() -> None:
    """nbgrader runs ``alembic`` (its database migrations) by name: the interpreter's bin folder
    must be on PATH even when the venv is not activated (``make`` calls .venv/bin/course)."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _nbgrader_bin() -> str:
    here = Path(sys.executable).parent / "nbgrader"
    return str(here) if here.exists() else "nbgrader"


def write_config(root: Path, db_path: Path, timeout: int, kernel_name: str | None = None) -> None:
    lines = [
        "# Written by `course grade`; edit the arguments of that command, not this file.",
        "c = get_config()",
        f"c.CourseDirectory.course_id = {COURSE_ID!r}",
        f"c.CourseDirectory.root = {str(root)!r}",
        f"c.CourseDirectory.db_url = {('sqlite:///' + str(db_path))!r}",
        f"c.Execute.timeout = {int(timeout)}",
        "c.Execute.execute_retries = 0",
        # the lessons keep their outputs in notebooks/; the release starts clean
        "c.ClearOutput.enabled = True",
        # feedback shows each test's outcome and failing assertion, not the hidden tests' code
        "c.GenerateFeedback.preprocessors = ['nbgrader.preprocessors.GetGrades', "
        "'nbconvert.preprocessors.CSSHTMLHeaderPreprocessor', "
        "'course_tools.grading.HideHiddenTests']",
    ]
    if kernel_name:
        lines.append(f"c.Execute.kernel_name = {kernel_name!r}")
    (root / "nbgrader_config.py").write_text("\n".join(lines) + "\n")


def _run_nbgrader(args: list[str], cwd: Path, env: dict | None = None, timeout: float | None = None,
                  limits=None) -> subprocess.CompletedProcess:
    """Run one nbgrader command in its own process group (killed whole on timeout)."""
    _ensure_venv_on_path()
    if env is not None:
        env = {**env, "PATH": os.environ["PATH"]}
    proc = subprocess.Popen([_nbgrader_bin(), *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=limits)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return subprocess.CompletedProcess(proc.args, -9, (out or "") + "\n[timed out]")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def release(lessons: list[str] | None = None, course_dir: Path = DEFAULT_COURSE_DIR,
            timeout: int = 120) -> dict[str, Path]:
    """Generate the student release of ``lessons`` into ``course_dir/release/<lesson>/``.

    Raises RuntimeError when nbgrader fails or when solution or hidden-test text is found in a
    generated notebook."""
    course_dir = Path(course_dir).resolve()
    course_dir.mkdir(parents=True, exist_ok=True)
    write_config(course_dir, course_dir / "gradebook.db", timeout)
    made = {}
    for lesson in resolve_lessons(lessons):
        src = lesson_notebooks()[lesson]
        (course_dir / "source" / lesson).mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, course_dir / "source" / lesson / src.name)
        done = _run_nbgrader(["generate_assignment", lesson, "--force"], cwd=course_dir)
        out = course_dir / "release" / lesson / src.name
        if done.returncode != 0 or not out.is_file():
            raise RuntimeError(f"nbgrader generate_assignment {lesson} failed:\n{done.stdout[-3000:]}")
        leaks = grading.find_leaks(nbformat.read(src, as_version=4), nbformat.read(out, as_version=4))
        if leaks:
            raise RuntimeError(f"{out} still contains solution or hidden-test text: {leaks[:5]}")
        made[lesson] = out
    kit = student_kit(course_dir, sorted(made))
    leaks = kit_leaks(kit, sorted(made))
    if leaks:
        raise RuntimeError(f"{kit} contains solution or hidden-test text: {leaks[:5]}")
    return made


KIT_README = """# Student kit: {course}

The lessons as assignments: open `lessons/NN_*.ipynb`, write the functions the *Graded exercises*
ask for, run their test cells, and hand in the notebook (keep its file name).

Set up once (Python 3.11):

    python3 -m venv .venv
    .venv/bin/pip install -r requirements-student.lock
    .venv/bin/pip install --no-deps -e .
    .venv/bin/jupyter lab lessons

(conda: `conda env create -f environment.yml && conda activate cnn-course`, then
`jupyter lab lessons`.)

Everything runs offline on a laptop CPU: the data ships with the packages and `checkpoints/`.
"""


KIT_ENVIRONMENT = """# conda env create -f environment.yml && conda activate cnn-course
name: cnn-course
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
      - -r requirements-student.lock
      - -e .
"""


def kit_pyproject(pyproject: Path = REPO / "pyproject.toml") -> str:
    """The repository's pyproject.toml cut down to what the kit holds: ``course_utils`` and the
    lessons' dependencies; no ``course`` command, no grading or test extras."""
    import tomllib

    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]

    def strings(values) -> str:
        return "[" + ", ".join(f'"{v}"' for v in values) + "]"

    return "\n".join([
        "[build-system]", 'requires = ["setuptools>=64"]', 'build-backend = "setuptools.build_meta"',
        "", "[project]", 'name = "course-utils"', f'version = "{project["version"]}"',
        'description = "Seeing inside convolutional networks: the lessons\' package"',
        f'requires-python = "{project["requires-python"]}"',
        f"dependencies = {strings(project['dependencies'])}", "",
        "[project.optional-dependencies]",
        f"notebooks = {strings(project['optional-dependencies']['notebooks'])}", "",
        "[tool.setuptools]", 'packages = ["course_utils", "course_utils.data"]', ""])


def student_kit(course_dir: Path, lessons: list[str], out: Path | None = None) -> Path:
    """Zip what a student needs to work on the released ``lessons``: the release notebooks,
    ``course_utils`` (not ``course_tools``), the checkpoints and the student's install files
    (``requirements-student.lock``, a pyproject.toml for ``course_utils`` alone), and nothing of
    the instructor's (no ``notebooks/``, no tests, no gradebook, no grader, no git history).
    Returns the zip's path."""
    import zipfile

    course_dir = Path(course_dir).resolve()
    out = Path(out or course_dir / "student-kit.zip")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for lesson in lessons:
            for nb in sorted((course_dir / "release" / lesson).glob("*.ipynb")):
                zf.write(nb, f"lessons/{nb.name}")
        for folder in ("course_utils", "checkpoints", "data"):
            for path in sorted((REPO / folder).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts and \
                        not path.name.endswith((".pyc", ".egg-info")) and \
                        not (folder == "data" and path.name != "README.md"):
                    zf.write(path, str(path.relative_to(REPO)))
        zf.write(REPO / "requirements-student.lock", "requirements-student.lock")
        zf.writestr("pyproject.toml", kit_pyproject())
        zf.writestr("environment.yml", KIT_ENVIRONMENT)
        zf.writestr("README.md", KIT_README.format(course=COURSE_ID))
    return out


def kit_leaks(kit: Path, lessons: list[str]) -> list[str]:
    """Solution or hidden-test text of ``lessons`` found in the kit's notebooks."""
    import zipfile

    sources = {lesson_notebooks()[lesson].name: nbformat.read(lesson_notebooks()[lesson], as_version=4)
               for lesson in lessons}
    found = []
    with zipfile.ZipFile(kit) as zf:
        for name in zf.namelist():
            if name.endswith(".ipynb"):
                nb = nbformat.reads(zf.read(name).decode("utf-8"), as_version=4)
                for source in ([sources[Path(name).name]] if Path(name).name in sources
                               else list(sources.values())):
                    found += [f"{name}: {leak}" for leak in grading.find_leaks(source, nb)]
    return found


# ----------------------------------------------------------------------------------------------
# checks of the source and the release (fast: exercise-only notebooks)
@dataclass
class LessonCheck:
    lesson: str
    exercises: int
    points: float
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def check(lessons: list[str] | None = None, course_dir: Path | None = None,
          timeout: int = 120, full: bool = False) -> list[LessonCheck]:
    """For each lesson: the generated release contains no solution or hidden test; graded as
    submissions are (each exercise alone, with only the declared set-up cells), the source's
    solutions score full marks and the untouched release 0.

    ``full=True`` also runs nbgrader validate on the whole source and the whole release in a
    kernel (every non-test cell of the release runs, every test cell fails): minutes."""
    pick = (lambda nb: nb) if full else grading.exercise_only
    from nbgrader.validator import Validator

    results = []
    with tempfile.TemporaryDirectory(prefix="course-grade-check-") as tmp:
        course = Path(course_dir or Path(tmp) / "course")
        released = release(lessons, course, timeout)
        for lesson, rel_path in released.items():
            start = time.time()
            src_nb = nbformat.read(lesson_notebooks()[lesson], as_version=4)
            rel_nb = nbformat.read(rel_path, as_version=4)
            tests = [c for c in grading.graded_cells(src_nb) if grading.is_test(c)]
            res = LessonCheck(lesson, len(tests), sum(float(grading.nbgrader_meta(c)["points"])
                                                       for c in tests))
            if len(tests) < 2:
                res.problems.append(f"only {len(tests)} graded exercise(s); the course asks for 2+")
            if full:  # nbgrader validate on the whole source (the grader's own check below
                # grades every exercise of the source alone, as submissions are graded)
                path = Path(tmp) / f"{lesson}.source.ipynb"
                nbformat.write(pick(src_nb), path)
                validator = Validator()
                validator.preprocessors[-1].timeout = timeout  # the Execute preprocessor
                for key, cells in validator.validate(str(path)).items():
                    res.problems.append(f"nbgrader validate on the source: {len(cells)} cell(s) {key}")
            if full:  # the release as a student opens it: everything but the tests runs
                run = grading.run_cells(rel_nb, rel_path.parent, timeout)
                for cell in run.cells:
                    # an interpretive question's stub (`ANSWER_... = ` at top level) raises
                    # NotImplementedError until it is answered, as nbgrader's stubs do
                    unanswered = cell.kind == "solution" and (cell.error or "").startswith(
                        "NotImplementedError")
                    if cell.kind != "test" and cell.error and not unanswered:
                        res.problems.append(f"release: {cell.kind} cell {cell.grade_id} fails: {cell.error}")
                    if cell.kind == "test" and cell.score:
                        res.problems.append(f"release: untouched test {cell.grade_id} scores {cell.score}")
            res.seconds = time.time() - start
            results.append(res)
        # As the grader grades: each exercise alone, with only the declared set-up cells. The
        # source's solutions must score full marks (so no exercise needs anything else of the
        # lesson, nor an earlier test cell), the untouched release 0.
        tasks, by_lesson = [], {r.lesson: r for r in results}
        limits = Limits(timeout, sandbox=sandbox.available(),
                        hide=tuple(_sandbox_paths(course, None)))
        for lesson, rel_path in released.items():
            start = time.time()
            src_nb = nbformat.read(lesson_notebooks()[lesson], as_version=4)
            spec = lesson_spec(src_nb, lesson, rel_path.name)
            for who, nb in (("source", src_nb), ("release", nbformat.read(rel_path, as_version=4))):
                path = Path(tmp) / who / lesson / rel_path.name
                path.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, path)
                solutions, _ = read_solutions(path, spec)
                tasks.append(_make_task(Submission(who, lesson, path), spec, solutions, limits))
        for out in _run_tasks(tasks, 2, None):
            res = by_lesson[out["lesson"]]
            for gid, r in out["outcomes"].items():
                if out["student"] == "source" and not r.get("passed"):
                    res.problems.append(f"graded alone with its set-up cells, the source's {gid} "
                                        f"fails: {r.get('message')}")
                if out["student"] == "release" and r.get("passed"):
                    res.problems.append(f"the untouched release passes {gid}")
            res.seconds += out["seconds"]
    return results


# ----------------------------------------------------------------------------------------------
# autograding: each exercise of each submission in its own sandboxed child of a set-up zygote
# (course_tools.exercise_runner), the verdict decided outside the student's reach
SETUP_TAG = "exercise-setup"


@dataclass
class Graded:
    student: str
    assignment: str
    scores: dict[str, float]  # grade_id -> points earned
    max_scores: dict[str, float]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    outcomes: dict[str, dict] = field(default_factory=dict)  # grade_id -> the runner's report

    @property
    def total(self) -> float:
        return sum(self.scores.values())

    @property
    def max_total(self) -> float:
        return sum(self.max_scores.values())


@dataclass
class Exercise:
    test_id: str
    points: float
    test_source: str  # the instructor's locked test cell, hidden tests included
    solution_ids: list[str]  # every solution cell above the test, in notebook order


@dataclass
class LessonSpec:
    lesson: str
    notebook: str  # the file name a submission must have
    setup: list[str]
    exercises: list[Exercise]

    @property
    def max_scores(self) -> dict[str, float]:
        return {e.test_id: e.points for e in self.exercises}


def setup_cells(nb) -> list:
    """The set-up cells the exercises declare they need: code cells tagged ``exercise-setup``;
    without any tag, the lesson's first code cell (the course's rule)."""
    tagged = [c for c in nb.cells if c.cell_type == "code"
              and SETUP_TAG in c.get("metadata", {}).get("tags", [])]
    if tagged:
        return tagged
    first = next((c for c in nb.cells if c.cell_type == "code"), None)
    return [first] if first is not None else []


def lesson_spec(source_nb, lesson: str, notebook: str) -> LessonSpec:
    exercises, solutions = [], []
    for cell in source_nb.cells:
        meta = grading.nbgrader_meta(cell)
        if grading.is_solution(cell):
            solutions.append(meta["grade_id"])
        elif grading.is_test(cell):
            exercises.append(Exercise(meta["grade_id"], float(meta.get("points", 0) or 0),
                                      cell.source, list(solutions)))
    return LessonSpec(lesson, notebook, [c.source for c in setup_cells(source_nb)], exercises)


def course_lesson_spec(course_dir: Path, lesson: str) -> LessonSpec:
    """The spec from the course directory's copy of the source (what `release` generated from)."""
    folder = Path(course_dir) / "source" / lesson
    found = sorted(folder.glob("*.ipynb"))
    if not found:
        raise FileNotFoundError(f"{lesson} has no release in {course_dir}: run "
                                f"`course grade release --lessons {lesson}` first")
    return lesson_spec(nbformat.read(found[0], as_version=4), lesson, found[0].name)


def _sandbox_paths(course_dir: Path, submissions: Path | None) -> list[str]:
    hide = [course_dir, Path(tempfile.gettempdir())] + \
        [REPO / d for d in ("notebooks", "tests", ".git", "build", "grading")]
    if submissions is not None:
        hide.append(submissions)
    return [str(h) for h in hide]


# -- the task one worker runs: one submission of one lesson (picklable in, picklable out) ------
_ZYGOTES = __import__("threading").local()


class _Zygote:
    def __init__(self, setup: list[str], sandboxed: bool):
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}
        # sandboxed: the zygote lives in a user namespace of its own (it runs only the
        # instructor's set-up), where each child can make its mount, PID and network namespaces
        userns = ["unshare", "--user", "--map-root-user"] if sandboxed else []
        self.proc = subprocess.Popen([*userns, sys.executable, "-m", "course_tools.exercise_runner"],
                                     cwd=str(REPO), env=env, text=True, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.proc.stdin.write(json.dumps({"setup": setup}) + "\n")
        self.proc.stdin.flush()
        hello = self.proc.stdout.readline()
        ready = json.loads(hello) if hello else {"ready": False, "error": "the zygote died"}
        if not ready.get("ready"):
            self.close()
            raise RuntimeError(f"the lesson's set-up cells fail: {ready.get('error')}")

    def run(self, job: dict) -> dict | None:
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            return None
        return json.loads(line) if line else None

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _zygote(setup: list[str], sandboxed: bool) -> _Zygote:
    pool = getattr(_ZYGOTES, "pool", None)
    if pool is None:
        pool = _ZYGOTES.pool = {}
    key = (hashlib.sha256(json.dumps(setup).encode()).hexdigest(), bool(sandboxed))
    z = pool.get(key)
    if z is None or z.proc.poll() is not None:
        z = pool[key] = _Zygote(setup, sandboxed)
    return z


def close_zygotes() -> None:
    for z in getattr(_ZYGOTES, "pool", {}).values():
        z.close()
    _ZYGOTES.pool = {}


def _all_failed(spec: dict, message: str) -> dict[str, dict]:
    """Every exercise of ``spec`` as an error with ``message`` (the set-up itself failed)."""
    return {ex["test_id"]: {"passed": False, "outcome": "error", "message": message,
                            "output": "", "seconds": 0} for ex in spec["exercises"]}


def _work_copy(tmp: Path, test_id: str, files: dict[str, bytes]) -> Path:
    """A fresh working folder for one exercise, holding what the student handed in."""
    work = Path(tmp) / f"work-{test_id}"
    work.mkdir()
    for name, data in files.items():
        (work / name).write_bytes(data)
    return work


def _exercise_job(task: dict, ex: dict, work: Path, outdir: Path) -> dict:
    """What the zygote's child needs to run exercise ``ex`` (see course_tools.exercise_runner)."""
    solutions = task["solutions"]
    return {"exercise": ex["test_id"], "test": ex["test_source"],
            "solutions": [[g, solutions[g]] for g in ex["solution_ids"] if g in solutions],
            "workdir": str(work), "outdir": str(outdir), "timeout": task["timeout"],
            "memory_bytes": task["memory_bytes"], "file_bytes": task["file_bytes"],
            "sandbox": task["sandbox"], "hide": task["hide"], "keep": [str(work)]}


def _note_disk_use(result: dict, work: Path, file_bytes: int) -> None:
    """Say so in the message when the exercise wrote more than its file budget."""
    used = sum(p.stat().st_size for p in work.rglob("*") if p.is_file())
    if used > file_bytes:
        result["message"] = (result.get("message", "") +
                             f" (wrote {used / 2**20:.0f} MiB into its working folder)").strip()


def _grade_exercise(zygote: _Zygote, task: dict, ex: dict, tmp: Path) -> tuple[dict, bool]:
    """Run one exercise in a child of ``zygote``; returns (its result, whether the zygote died)."""
    work = _work_copy(tmp, ex["test_id"], task["files"])
    outdir = Path(tmp) / "out"
    outdir.mkdir(exist_ok=True)
    try:
        result = zygote.run(_exercise_job(task, ex, work, outdir))
        died = result is None
        if died:  # the zygote itself died: never the student's fault alone
            result = {"passed": False, "outcome": "error", "output": "", "seconds": 0,
                      "message": "the grading process died; grade this exercise again"}
        _note_disk_use(result, work, task["file_bytes"])
        return result, died
    finally:
        shutil.rmtree(work, ignore_errors=True)


def grade_task(task: dict) -> dict:
    """Grade one submission (``task`` from :func:`_make_task`): every exercise in its own child.
    Runs wherever the work is sent (a local thread or a Dask worker); returns plain data."""
    start = time.time()
    spec = task["spec"]
    out = {"student": task["student"], "lesson": task["lesson"], "outcomes": {}, "notes": []}
    with tempfile.TemporaryDirectory(prefix="course-grade-") as tmp:
        try:
            zygote = _zygote(spec["setup"], task["sandbox"])
        except RuntimeError as err:
            out["notes"].append(f"grader problem: {err}")
            out["outcomes"] = _all_failed(spec, str(err))
        else:
            for ex in spec["exercises"]:
                out["outcomes"][ex["test_id"]], died = _grade_exercise(zygote, task, ex, Path(tmp))
                if died:
                    close_zygotes()
                    zygote = _zygote(spec["setup"], task["sandbox"])
    out["seconds"] = time.time() - start
    return out


# -- collecting submissions --------------------------------------------------------------------
@dataclass
class Submission:
    student: str
    lesson: str
    path: Path | None  # the notebook; None when it is missing
    problem: str | None = None  # why it cannot be graded (0 points and this note)


def collect(submissions: Path, lessons: list[str], log=print) -> tuple[list[Submission], list[str]]:
    """Every submission under ``submissions`` for ``lessons``, with the ones that cannot be
    graded (misnamed, unreadable) kept as such; and the errors (folders that are no student,
    files for no known lesson)."""
    known = lesson_notebooks()
    found: list[Submission] = []
    errors: list[str] = []
    for student_dir in sorted(submissions.iterdir()):
        name = student_dir.name
        if not student_dir.is_dir():
            errors.append(f"{name!r} is not a student folder (expected <student id>/<lesson>/...)")
            continue
        if not STUDENT_ID.fullmatch(name):
            errors.append(f"folder {name!r} skipped: a student id is letters, digits, . _ - "
                          "(no spaces, no newlines)")
            continue
        try:
            entries = sorted(student_dir.iterdir())
        except OSError as err:
            errors.append(f"{name}: cannot read the folder ({err.strerror})")
            continue
        for entry in entries:
            stem = entry.name[:-6] if entry.name.endswith(".ipynb") else entry.name
            lesson = stem if stem in known else next(
                (l for l in known if stem.split("_", 1)[0] == l.split("_", 1)[0]
                 and stem[:2].isdigit()), None)
            if entry.name.startswith(".") or (entry.is_file() and not entry.name.endswith(".ipynb")):
                continue
            if lesson is None:
                errors.append(f"{name}/{entry.name}: not a submission for a known lesson "
                              f"({', '.join(known)})")
                continue
            if lesson not in lessons:
                continue
            expected = known[lesson].name
            if entry.is_dir():
                nb = entry / expected
                others = sorted(p.name for p in entry.glob("*.ipynb"))
                if entry.name != lesson:
                    found.append(Submission(name, lesson, None, f"folder {entry.name!r} should be "
                                            f"named {lesson!r}; 0 points, review by hand"))
                elif not nb.is_file():
                    found.append(Submission(name, lesson, None, f"no notebook named {expected} in "
                                            f"the submission (found: {', '.join(others) or 'none'}); "
                                            "0 points"))
                else:
                    found.append(Submission(name, lesson, nb))
            elif entry.name != expected:
                found.append(Submission(name, lesson, None, f"{entry.name} should be named "
                                        f"{expected}; 0 points, review by hand"))
            else:
                found.append(Submission(name, lesson, entry))
    seen = {}
    for s in found:  # <student>/<lesson>/ and <student>/<lesson>.ipynb both there: keep the folder
        key = (s.student, s.lesson)
        if key in seen and seen[key].path is not None and seen[key].path.parent.name == s.lesson:
            continue
        seen[key] = s
    return [seen[k] for k in sorted(seen)], errors


def read_solutions(path: Path, spec: LessonSpec) -> tuple[dict[str, str], list[str]]:
    """The student's solution cells by grade_id, and notes (unreadable, cells missing, edited
    locked cells). Raises ValueError when the notebook cannot be read at all."""
    try:
        nb = nbformat.read(path, as_version=4)
    except PermissionError as err:
        raise ValueError(f"the notebook cannot be read ({err.strerror}); 0 points") from None
    except Exception as err:  # noqa: BLE001 (anything unreadable: JSON, schema, encoding)
        raise ValueError(f"not a readable notebook ({type(err).__name__}); 0 points") from None
    solutions, notes = {}, []
    wanted = {g for e in spec.exercises for g in e.solution_ids}
    tests = {e.test_id for e in spec.exercises}
    for cell in nb.get("cells", []):
        gid = grading.nbgrader_meta(cell).get("grade_id")
        if cell.get("cell_type") != "code" or not isinstance(cell.get("source"), str):
            continue
        if gid in wanted and gid not in solutions:
            solutions[gid] = cell.source
        elif gid in tests and cell.source.strip() not in {
                grading.strip_hidden_tests(e.test_source).strip()
                for e in spec.exercises if e.test_id == gid}:
            notes.append(f"locked cell {gid} was edited (ignored: the tests come from the source)")
    missing = sorted(wanted - set(solutions))
    if missing:
        notes.append(f"solution cell(s) missing: {', '.join(missing)}")
    return solutions, notes


@dataclass(frozen=True)
class Limits:
    """How one submission is run: seconds per exercise, memory and file budgets, the sandbox
    and the paths it hides."""
    timeout: int = 120
    memory_gib: float = 6.0
    file_mib: float = 256.0
    sandbox: bool = True
    hide: tuple[str, ...] = ()


def _handed_in(sub: Submission) -> dict[str, bytes]:
    """The notebook, and what the student handed in beside it (up to 16 MiB in all)."""
    files = {}
    folder = sub.path.parent
    budget = 16 * 2**20
    if folder.name == sub.lesson:
        for p in sorted(folder.iterdir()):
            if p.is_file() and not p.name.startswith(".") and p.stat().st_size <= budget:
                budget -= p.stat().st_size
                files[p.name] = p.read_bytes()
    files[sub.path.name] = sub.path.read_bytes()
    return files


def _make_task(sub: Submission, spec: LessonSpec, solutions: dict[str, str], limits: Limits) -> dict:
    """One submission as plain, picklable data for :func:`grade_task`."""
    return {"student": sub.student, "lesson": sub.lesson, "solutions": solutions,
            "spec": {"setup": spec.setup, "exercises": [e.__dict__ for e in spec.exercises]},
            "files": _handed_in(sub), "timeout": int(limits.timeout),
            "memory_bytes": int(limits.memory_gib * 2**30),
            "file_bytes": int(limits.file_mib * 2**20), "sandbox": bool(limits.sandbox),
            "hide": list(limits.hide)}


def _run_tasks(tasks: list[dict], jobs: int, scheduler: str | None, log=print) -> list[dict]:
    """Every task, in parallel on this machine (``jobs`` at a time) or on a Dask cluster."""
    if not tasks:
        return []
    if scheduler:
        from distributed import Client

        with Client(scheduler, timeout=30) as client:
            log(f"grading on the Dask cluster at {scheduler} "
                f"({len(client.scheduler_info()['workers'])} workers)")
            futures = client.map(grade_task, tasks, pure=False)
            return client.gather(futures)
    from concurrent.futures import ThreadPoolExecutor

    def run(batch: list[int]) -> list[dict]:
        try:
            return [grade_task(tasks[i]) for i in batch]
        finally:
            close_zygotes()  # this worker's zygotes: their lesson's tasks are all done

    results: list[dict | None] = [None] * len(tasks)
    batches = _batches(tasks, jobs)
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(batches)))) as pool:
        for batch, outs in zip(batches, pool.map(run, batches)):
            for i, out in zip(batch, outs):
                results[i] = out
    return results


def _batches(tasks: list[dict], jobs: int) -> list[list[int]]:
    """The tasks' indices in batches, each graded in order by one worker: the tasks that share a
    set-up zygote (same lesson, same sandbox) together, so that each lesson's set-up runs once
    and not once per worker (about 8 s of CPU each); a batch is split only while there are
    fewer batches than workers (many submissions of one lesson still use every worker)."""
    groups: dict[tuple, list[int]] = {}
    for i, t in enumerate(tasks):
        groups.setdefault((json.dumps(t["spec"]["setup"]), bool(t["sandbox"])), []).append(i)
    batches = list(groups.values())
    while len(batches) < jobs and any(len(b) > 1 for b in batches):
        largest = max(batches, key=len)
        batches.remove(largest)
        parts = min(len(largest), jobs - len(batches))
        batches += [largest[k::parts] for k in range(parts)]
    return batches


def _graded_from(result: dict, spec: LessonSpec, notes: list[str], flags: list[str]) -> Graded:
    g = Graded(result["student"], result["lesson"], dict.fromkeys(spec.max_scores, 0.0),
               spec.max_scores, list(notes), result.get("seconds", 0.0), result["outcomes"])
    g.notes += result.get("notes", [])
    for e in spec.exercises:
        r = result["outcomes"].get(e.test_id, {})
        if r.get("passed"):
            g.scores[e.test_id] = e.points
        elif r.get("outcome") in ("timeout", "crash", "tampered", "error") or \
                str(r.get("message", "")).startswith("tampering"):
            g.notes.append(f"{e.test_id}: {r.get('message')}")
        if os.environ.get("COURSE_GRADE_DEBUG") and not r.get("passed"):
            g.notes.append(f"[debug] {e.test_id}: {r.get('message')} | {r.get('output', '')[-500:]}")
    g.notes += flags
    return g


def autograde(submissions: Path, course_dir: Path = DEFAULT_COURSE_DIR,
              lessons: list[str] | None = None, timeout: int = 120, memory_gib: float = 6.0,
              file_mib: float = 256.0, csv_path: Path | None = None, feedback: bool = True,
              use_sandbox: bool | None = None, jobs: int = 1, scheduler: str | None = None,
              log=print) -> list[Graded]:
    """Grade ``submissions/<student>/<lesson>/<lesson>.ipynb`` (nbgrader's ``submitted``
    layout; ``submissions/<student>/<lesson>.ipynb`` is accepted too) against the source in
    ``course_dir``; write the course's gradebook, feedback (``course_dir/feedback``) and a
    grades CSV. Raises ValueError when there is nothing to grade or a folder is not a
    submission (after grading the rest), FileNotFoundError for a missing folder or release."""
    submissions, course_dir = Path(submissions).resolve(), Path(course_dir).resolve()
    if csv_path is not None:  # never leave an earlier run's grades looking like this run's
        csv_path = Path(csv_path).resolve()
        for stale in (csv_path, csv_path.with_name(csv_path.stem + "_by_exercise.csv")):
            stale.unlink(missing_ok=True)
    if not submissions.is_dir():
        raise FileNotFoundError(f"no submissions folder at {submissions}; expected "
                                "<folder>/<student id>/<lesson>/<lesson>.ipynb")
    if not (course_dir / "gradebook.db").is_file():
        raise FileNotFoundError(f"no gradebook in {course_dir}: run `course grade release` first")
    wanted = resolve_lessons(lessons)
    if use_sandbox is None:
        use_sandbox = sandbox.available()
        if not use_sandbox:
            log("WARNING: no grading sandbox on this machine (unprivileged user namespaces are "
                "off): submissions run as you and could read the course directory and the hidden "
                "tests. See the README, 'What grading protects'.")
    elif not use_sandbox:
        log("WARNING: grading without the sandbox (asked for): submissions could read the course "
            "directory and the hidden tests.")
    subs, errors = collect(submissions, wanted, log)
    for err in errors:
        log(f"ERROR {err}")
    if not subs:
        raise ValueError(f"no submissions found under {submissions} for {', '.join(wanted)}"
                         + (f" ({len(errors)} error(s) above)" if errors else ""))
    specs = {lesson: course_lesson_spec(course_dir, lesson) for lesson in sorted({s.lesson for s in subs})}
    limits = Limits(timeout, memory_gib, file_mib, bool(use_sandbox),
                    tuple(_sandbox_paths(course_dir, submissions)))
    tasks, pre = [], {}
    for sub in subs:
        spec = specs[sub.lesson]
        notes, solutions = [], {}
        if sub.problem is None:
            try:
                solutions, notes = read_solutions(sub.path, spec)
            except ValueError as err:
                sub.problem = str(err)
        if sub.problem is not None:
            pre[(sub.student, sub.lesson)] = Graded(sub.student, sub.lesson,
                                                    dict.fromkeys(spec.max_scores, 0.0),
                                                    spec.max_scores, [sub.problem])
            continue
        flags = [f"review by hand: {gid} touches " + ", ".join(f)
                 for gid, src in sorted(solutions.items()) if (f := runner.review_flags(src))]
        pre[(sub.student, sub.lesson)] = (notes, flags)
        tasks.append(_make_task(sub, spec, solutions, limits))
    log(f"grading {len(tasks)} submission(s), {sum(len(specs[t['lesson']].exercises) for t in tasks)} "
        f"exercises, {'on ' + scheduler if scheduler else f'{jobs} at a time'}"
        f"{'' if use_sandbox else ', NO sandbox'}")
    results = {(r["student"], r["lesson"]): r for r in _run_tasks(tasks, jobs, scheduler, log)}
    graded = []
    for key in sorted(pre):
        if isinstance(pre[key], Graded):
            g = pre[key]
        else:
            notes, flags = pre[key]
            g = _graded_from(results[key], specs[key[1]], notes, flags)
        log(f"{g.student:20s} {g.assignment:28s} {g.total:5.1f} / {g.max_total:4.1f}"
            f"   ({g.seconds:.1f} s){'  ' + '; '.join(g.notes) if g.notes else ''}")
        graded.append(g)
    _record_in_gradebook(course_dir, graded)
    if feedback:
        for g in graded:
            write_feedback(course_dir, g, specs[g.assignment])
    if csv_path is not None:
        _write_grades(graded, csv_path)
        _write_details(graded, csv_path.with_name(csv_path.stem + "_by_exercise.csv"))
    if errors:
        raise ValueError(f"{len(errors)} folder(s) or file(s) could not be graded: "
                         + "; ".join(errors) + " (every other submission was graded)")
    return graded


def _record_in_gradebook(course_dir: Path, graded: list[Graded]) -> None:
    """The scores into nbgrader's gradebook (a regrade replaces the earlier ones)."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    _ensure_venv_on_path()
    url = "sqlite:///" + str(course_dir / "gradebook.db")
    with Gradebook(url) as gb, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        for g in graded:
            gb.update_or_create_student(g.student)
            try:
                gb.remove_submission(g.assignment, g.student)
            except MissingEntry:
                pass
            gb.add_submission(g.assignment, g.student)
            for nb in gb.find_submission(g.assignment, g.student).notebooks:
                for grade in nb.grades:
                    if grade.name in g.scores:
                        grade.auto_score = g.scores[grade.name]
                        grade.needs_manual_grade = False
            gb.db.commit()


def _write_grades(results: list[Graded], path: Path) -> None:
    """One row per submission, sorted: the same file whatever the parallelism."""
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["student_id", "assignment", "score", "max_score", "needs_review", "notes"])
        for g in sorted(results, key=lambda g: (g.student, g.assignment)):
            out.writerow([g.student, g.assignment, f"{g.total:g}", f"{g.max_total:g}",
                          "yes" if any(n.startswith(("review", "grader problem")) or "review by hand" in n
                                       for n in g.notes) else "no",
                          "; ".join(g.notes)])


def _outcome_text(r: dict) -> str:
    return {"pass": "passed", "fail": "failed", "timeout": "timed out", "crash": "crashed",
            "tampered": "tampered with grading", "error": "grader error"}.get(r.get("outcome"), "not run")


def write_feedback(course_dir: Path, g: Graded, spec: LessonSpec) -> Path:
    """One HTML page: each exercise's points, what happened and the failing check's message
    (never the tests' code)."""
    rows = []
    for e in spec.exercises:
        r = g.outcomes.get(e.test_id, {})
        rows.append(f"<tr><td>{html.escape(e.test_id)}</td><td>{g.scores.get(e.test_id, 0):g} / "
                    f"{e.points:g}</td><td>{html.escape(_outcome_text(r))}</td>"
                    f"<td><pre>{html.escape(str(r.get('message', ''))[:1500])}</pre></td></tr>")
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in g.notes)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(g.assignment)}: "
            f"{html.escape(g.student)}</title></head><body><h1>{html.escape(g.assignment)}</h1>"
            f"<p>Student: {html.escape(g.student)}. Score: <b>{g.total:g} / {g.max_total:g}</b>.</p>"
            "<table border='1' cellpadding='4'><tr><th>exercise</th><th>points</th><th>outcome</th>"
            f"<th>message</th></tr>{''.join(rows)}</table>"
            + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "") +
            "<p>Each exercise was graded on its own: your solution cells' functions were loaded "
            "into a fresh Python process with the lesson's set-up and its test cell was run "
            "there. Only definitions (imports, functions, classes, constants) are loaded; other "
            "top-level statements are not run.</p></body></html>")
    out = course_dir / "feedback" / g.student / g.assignment / (spec.notebook[:-6] + ".html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out


def _write_details(results: list[Graded], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["student_id", "assignment", "exercise", "score", "max_score", "outcome",
                      "message"])
        for g in sorted(results, key=lambda g: (g.student, g.assignment)):
            for gid, max_score in g.max_scores.items():
                r = g.outcomes.get(gid, {})
                out.writerow([g.student, g.assignment, gid, f"{g.scores.get(gid, 0.0):g}",
                              f"{max_score:g}", _outcome_text(r) if r else "not graded",
                              str(r.get("message", "; ".join(g.notes)))[:500]])
