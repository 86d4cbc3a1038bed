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
import resource
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
    """For each lesson: nbgrader validate passes the source's exercise cells; the generated
    release contains no solution or hidden test; in the release every non-test cell still runs
    and every test cell fails (an untouched release scores 0).

    By default the source and the release are checked on their exercise-only notebooks (seconds
    a lesson; nbval runs the whole source lessons anyway); ``full=True`` runs them whole."""
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
            # nbgrader validate on the source
            path = Path(tmp) / f"{lesson}.source.ipynb"
            nbformat.write(pick(src_nb), path)
            validator = Validator()
            validator.preprocessors[-1].timeout = timeout  # the Execute preprocessor
            for key, cells in validator.validate(str(path)).items():
                res.problems.append(f"nbgrader validate on the source: {len(cells)} cell(s) {key}")
            # the release as a student opens it: everything but the tests runs, every test fails
            run = grading.run_cells(pick(rel_nb), rel_path.parent, timeout)
            for cell in run.cells:
                if cell.kind != "test" and cell.error:
                    res.problems.append(f"release: {cell.kind} cell {cell.grade_id} fails: {cell.error}")
                if cell.kind == "test" and cell.score:
                    res.problems.append(f"release: untouched test {cell.grade_id} scores {cell.score}")
            res.seconds = time.time() - start
            results.append(res)
    return results


# ----------------------------------------------------------------------------------------------
# autograding
@dataclass
class Graded:
    student: str
    assignment: str
    scores: dict[str, float]  # grade_id -> points earned
    max_scores: dict[str, float]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.scores.values())

    @property
    def max_total(self) -> float:
        return sum(self.max_scores.values())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def _limits(memory_gib: float, file_mib: float):
    def apply():
        mem = int(memory_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        size = int(file_mib * 2**20)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _sandbox_kernelspec(folder: Path, hide: list[Path], keep: list[Path]) -> None:
    spec = folder / "kernels" / SANDBOX_KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "course_tools.sandbox"]
    for h in hide:
        argv += ["--hide", str(h)]
    for k in keep:
        argv += ["--keep", str(k)]
    argv += ["--", sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({
        "argv": argv, "display_name": "Python 3 (grading sandbox)", "language": "python",
        # interrupts travel as a message: a signal would reach only the sandbox's launcher
        "interrupt_mode": "message"}, indent=1))


def _max_scores(course_dir: Path, assignment: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    _ensure_venv_on_path()
    with Gradebook("sqlite:///" + str(course_dir / "gradebook.db")) as gb:
        a = gb.find_assignment(assignment)
        return {g.name: float(g.max_score) for nb in a.notebooks for g in nb.grade_cells}


def _scores_from_notebook(path: Path, max_scores: dict[str, float]) -> dict[str, float]:
    """nbgrader's own rule (error or stderr: 0, else full marks), applied to the graded copy."""
    from nbgrader.utils import determine_grade

    nb = nbformat.read(path, as_version=4)
    got = {}
    for cell in nb.cells:
        gid = grading.nbgrader_meta(cell).get("grade_id")
        if grading.is_test(cell) and gid in max_scores:
            got[gid] = float(determine_grade(cell)[0] or 0)
    return got


def _merge_into_gradebook(course_dir: Path, scratch_db: Path, graded: Graded) -> None:
    """Copy one submission's scores from its scratch gradebook into the course's."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    with Gradebook("sqlite:///" + str(scratch_db)) as gb_s:
        sub = gb_s.find_submission(graded.assignment, graded.student)
        timestamp = sub.timestamp
    url = "sqlite:///" + str(course_dir / "gradebook.db")
    with Gradebook(url) as gb:  # a regrade replaces the earlier scores
        gb.update_or_create_student(graded.student)
        try:
            gb.remove_submission(graded.assignment, graded.student)
        except MissingEntry:  # first grading of this student
            pass
    with Gradebook(url) as gb, warnings.catch_warnings():
        # nbgrader 0.9.6's add_submission trips SQLAlchemy 2.1's autoflush "not in session"
        # warning; the rows are written all the same (the self-test checks the export)
        warnings.simplefilter("ignore", SAWarning)
        gb.update_or_create_submission(graded.assignment, graded.student, timestamp=timestamp)
        for nb in gb.find_submission(graded.assignment, graded.student).notebooks:
            for grade in nb.grades:
                if grade.name in graded.scores:
                    grade.auto_score = graded.scores[grade.name]
                    grade.needs_manual_grade = False
        gb.db.commit()


def _edited_locked_cells(release_dir: Path, sub_dir: Path, names: list[str]) -> list[str]:
    """Notes on test (locked) cells the student changed: nbgrader restores them before grading,
    but the instructor should know."""
    notes = []
    for name in names:
        if not (sub_dir / name).is_file():
            continue
        try:
            submitted = nbformat.read(sub_dir / name, as_version=4)
        except Exception as err:  # unreadable JSON: nbgrader will report it too
            return [f"{name} is not a readable notebook ({type(err).__name__})"]
        given = {grading.nbgrader_meta(c).get("grade_id"): c.source
                 for c in nbformat.read(release_dir / name, as_version=4).cells
                 if grading.nbgrader_meta(c).get("locked")}
        handed_in = {grading.nbgrader_meta(c).get("grade_id"): c.source for c in submitted.cells}
        for gid, source in given.items():
            if gid in handed_in and handed_in[gid].strip() != source.strip():
                notes.append(f"locked cell {gid} was edited (restored before grading)")
            elif gid not in handed_in:
                notes.append(f"locked cell {gid} was deleted (restored before grading)")
    return notes


def _grade_one(course_dir: Path, student: str, assignment: str, sub_dir: Path, hide: list[Path],
               timeout: int, memory_gib: float, file_mib: float, use_sandbox: bool) -> Graded:
    start = time.time()
    max_scores = _max_scores(course_dir, assignment)
    graded = Graded(student, assignment, dict.fromkeys(max_scores, 0.0), max_scores)
    expected = sorted(p.name for p in (course_dir / "release" / assignment).glob("*.ipynb"))
    present = sorted(p.name for p in sub_dir.glob("*.ipynb"))
    if not set(expected) & set(present):
        graded.notes.append(f"no notebook named {', '.join(expected)} in the submission: 0 points")
        return graded
    graded.notes += _edited_locked_cells(course_dir / "release" / assignment, sub_dir, expected)
    master_db = course_dir / "gradebook.db"
    before = _sha256(master_db)
    backup = master_db.read_bytes()
    with tempfile.TemporaryDirectory(prefix="course-grade-") as work, \
            tempfile.TemporaryDirectory(prefix="course-gradebook-") as db_dir:
        scratch, db_dir = Path(work) / "course", Path(db_dir)
        scratch_db = db_dir / "gradebook.db"
        shutil.copy2(master_db, scratch_db)
        shutil.copytree(sub_dir, scratch / "submitted" / student / assignment,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        env = dict(os.environ)
        if use_sandbox:
            # the kernel sees its own working copy, nothing else of /tmp, no course files
            _sandbox_kernelspec(Path(work) / "jupyter", hide + [db_dir], [Path(work)])
            env["JUPYTER_PATH"] = os.pathsep.join([str(Path(work) / "jupyter"),
                                                   env.get("JUPYTER_PATH", "")]).rstrip(os.pathsep)
        write_config(scratch, scratch_db, timeout, SANDBOX_KERNEL if use_sandbox else None)
        n_cells = sum(c.cell_type == "code" for c in nbformat.read(
            course_dir / "release" / assignment / expected[0], as_version=4).cells)
        done = _run_nbgrader(["autograde", assignment, "--student", student, "--create", "--force"],
                             cwd=scratch, env=env, timeout=timeout * (n_cells + 4),
                             limits=_limits(memory_gib, file_mib))
        if _sha256(master_db) != before:
            master_db.write_bytes(backup)
            graded.notes.append("the course gradebook changed while this submission ran: "
                                "change undone, submission flagged for review")
        out_dir = scratch / "autograded" / student / assignment
        graded_nbs = [out_dir / name for name in expected if (out_dir / name).is_file()]
        if done.returncode != 0 or not graded_nbs:
            tail = done.stdout.strip().splitlines()[-3:]
            graded.notes.append(f"nbgrader autograde did not finish (exit {done.returncode}): "
                                f"{' | '.join(tail)}; 0 points, review by hand")
            graded.seconds = time.time() - start
            return graded
        from_nb = {}
        for path in graded_nbs:
            from_nb.update(_scores_from_notebook(path, max_scores))
        from nbgrader.api import Gradebook
        with Gradebook("sqlite:///" + str(scratch_db)) as gb_s:
            sub = gb_s.find_submission(assignment, student)
            from_db = {g.name: float(g.auto_score or 0) for nb in sub.notebooks for g in nb.grades
                       if g.name in max_scores}
        for gid, points in from_nb.items():
            points = min(max(points, 0.0), max_scores[gid])
            if abs(from_db.get(gid, -1) - points) > 1e-9:
                graded.notes.append(f"{gid}: the scratch gradebook says {from_db.get(gid)}, the "
                                    f"graded notebook {points}; kept {points}")
            graded.scores[gid] = points
        _merge_into_gradebook(course_dir, scratch_db, graded)
        target = course_dir / "autograded" / student / assignment
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(out_dir, target, ignore=shutil.ignore_patterns("*.bin", "*.npy", "*.pt"))
        used = sum(p.stat().st_size for p in Path(work).rglob("*") if p.is_file())
        if used > file_mib * 2**20:
            graded.notes.append(f"wrote {used / 2**20:.0f} MiB into its working folder (deleted)")
    graded.seconds = time.time() - start
    return graded


def autograde(submissions: Path, course_dir: Path = DEFAULT_COURSE_DIR,
              lessons: list[str] | None = None, timeout: int = 120, memory_gib: float = 6.0,
              file_mib: float = 256.0, csv_path: Path | None = None, feedback: bool = True,
              use_sandbox: bool | None = None, log=print) -> list[Graded]:
    """Grade ``submissions/<student>/<lesson>/<lesson>.ipynb`` (nbgrader's ``submitted``
    layout; ``submissions/<student>/<lesson>.ipynb`` is accepted too) against the release in
    ``course_dir``; write the course's gradebook, feedback
    (``course_dir/feedback``) and a grades CSV (nbgrader's export)."""
    submissions, course_dir = Path(submissions).resolve(), Path(course_dir).resolve()
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
    hide = [course_dir, submissions, Path(tempfile.gettempdir())] + \
        [REPO / d for d in ("notebooks", "tests", ".git", "build", "grading")]
    results = []
    for student_dir in sorted(p for p in submissions.iterdir() if p.is_dir()):
        student = student_dir.name
        if not STUDENT_ID.match(student):
            log(f"skipped folder {student_dir.name!r}: a student id is letters, digits, . _ -")
            continue
        for lesson in wanted:
            sub_dir, flat = student_dir / lesson, student_dir / f"{lesson}.ipynb"
            if not sub_dir.is_dir() and not flat.is_file():
                continue
            if not (course_dir / "release" / lesson).is_dir():
                raise FileNotFoundError(f"{lesson} has no release in {course_dir}: run "
                                        f"`course grade release {lesson}` first")
            with tempfile.TemporaryDirectory(prefix="course-grade-flat-") as flat_dir:
                if not sub_dir.is_dir():  # <student>/<lesson>.ipynb: accepted as well
                    sub_dir = Path(flat_dir)
                    shutil.copy2(flat, sub_dir / flat.name)
                graded = _grade_one(course_dir, student, lesson, sub_dir, hide, timeout,
                                    memory_gib, file_mib, use_sandbox)
            log(f"{student:20s} {lesson:28s} {graded.total:5.1f} / {graded.max_total:4.1f}"
                f"   ({graded.seconds:.0f} s){'  ' + '; '.join(graded.notes) if graded.notes else ''}")
            results.append(graded)
    if not results:
        log(f"no submissions found under {submissions} for {', '.join(wanted)}")
        return results
    if feedback:
        for lesson in sorted({g.assignment for g in results}):
            done = _run_nbgrader(["generate_feedback", lesson, "--force"], cwd=course_dir)
            if done.returncode != 0:
                log(f"nbgrader generate_feedback {lesson} failed:\n{done.stdout[-2000:]}")
    if csv_path is not None:
        csv_path = Path(csv_path).resolve()
        done = _run_nbgrader(["export", f"--to={csv_path}"], cwd=course_dir)
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader export failed:\n{done.stdout[-2000:]}")
        _write_details(results, csv_path.with_name(csv_path.stem + "_by_exercise.csv"))
    return results


def _write_details(results: list[Graded], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["student_id", "assignment", "exercise", "score", "max_score", "notes"])
        for g in results:
            for gid, max_score in g.max_scores.items():
                out.writerow([g.student, g.assignment, gid, g.scores.get(gid, 0.0), max_score,
                              "; ".join(g.notes)])


# ----------------------------------------------------------------------------------------------
# self-test: grade the sample submissions in tests/grading/samples and compare with their scores
SAMPLES = REPO / "tests" / "grading" / "samples"


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


def selftest(samples_dir: Path = SAMPLES, timeout: int = 30, log=print,
             use_sandbox: bool | None = None) -> int:
    """Release, grade every sample submission as a class would be graded, and compare each
    exercise's score with the sample's expected one. Returns 0 when all match."""
    samples = [read_sample(p) for p in sorted(Path(samples_dir).glob("*.py"))]
    if not samples:
        raise FileNotFoundError(f"no sample submissions (*.py) in {samples_dir}")
    use_sandbox = sandbox.available() if use_sandbox is None else use_sandbox
    failures = []
    with tempfile.TemporaryDirectory(prefix="course-grade-selftest-") as tmp:
        course, subs = Path(tmp) / "course", Path(tmp) / "submitted"
        released = release(sorted({s.lesson for s in samples}), course)
        for s in samples:
            rel = nbformat.read(released[s.lesson], as_version=4)
            src = nbformat.read(lesson_notebooks()[s.lesson], as_version=4)
            target = subs / s.name / (s.lesson if s.layout == "nbgrader" else "") / released[s.lesson].name
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(build_submission(s, rel, src), target)
        log(f"grading {len(samples)} sample submissions ({'sandboxed kernels' if use_sandbox else 'NO sandbox'}, "
            f"{timeout} s per cell)")
        results = autograde(subs, course, timeout=timeout, csv_path=Path(tmp) / "grades.csv",
                            use_sandbox=use_sandbox, log=log)
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
                nb_path = course / "autograded" / s.name / s.lesson / released[s.lesson].name
                text = "".join(o.get("text", "") for c in nbformat.read(nb_path, as_version=4).cells
                               for o in c.get("outputs", []))
                line = next((ln for ln in text.splitlines() if s.sandboxed_output.split(":")[0] in ln), "")
                if use_sandbox and s.sandboxed_output not in text:
                    failures.append(f"{s.name}: its output should say {s.sandboxed_output!r} in the "
                                    f"sandbox, it says {line!r}")
                log(f"{s.name:12s} said: {line}" + ("" if use_sandbox else
                    "   (no sandbox: what it found is what it could read)"))
        feedback = sorted((course / "feedback").glob("*/*/*.html"))
        log(f"\nfeedback files: {len(feedback)}; grades CSV rows: {len(exported)}")
        if len(feedback) != len(samples):
            failures.append(f"expected {len(samples)} feedback files, found {len(feedback)}")
        # Feedback leaves the hidden tests' code out. A passing submission's page has no
        # traceback (where a failing hidden assert is shown, on purpose), so none of the hidden
        # tests' lines may appear on it.
        for s in (s for s in samples if s.build == "solutions"):
            source = nbformat.read(lesson_notebooks()[s.lesson], as_version=4)
            hidden = [ln for c in grading.graded_cells(source)
                      for ln in grading._region_lines(c.source, grading.HIDDEN_BEGIN, grading.HIDDEN_END)
                      if ln not in grading.visible_lines(source)]
            for page in (course / "feedback" / s.name).rglob("*.html"):
                text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(errors="ignore")))
                shown = [ln for ln in hidden if ln in text]
                if shown or "HIDDEN TESTS" in text:
                    failures.append(f"{page.relative_to(course)} shows hidden tests: {shown[:2]}")
    for f in failures:
        log(f"FAIL {f}")
    log("self-test " + ("passed" if not failures else f"FAILED ({len(failures)} problems)"))
    return 1 if failures else 0
