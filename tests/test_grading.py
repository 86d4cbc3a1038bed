"""The graded exercises and the grading machinery (fast parts; `make grading` runs the rest:
nbgrader validate on every lesson, the release checks and the self-test of sample submissions)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_tools import grader, grading, sandbox, selftest

LESSONS = grader.lesson_notebooks()
ALL_LESSONS = {p.stem: p for p in sorted(grader.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))}


def _exercise_nb(solution_body: str, test_body: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    setup = nbformat.v4.new_code_cell("import math")
    sol = nbformat.v4.new_code_cell(
        'def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n' + solution_body + "\n    ### END SOLUTION\n")
    sol.metadata["nbgrader"] = {"solution": True, "grade": False, "locked": False, "task": False,
                                "grade_id": "f", "schema_version": 3}
    test = nbformat.v4.new_code_cell(test_body)
    test.metadata["nbgrader"] = {"solution": False, "grade": True, "locked": True, "points": 2,
                                 "task": False, "grade_id": "f_tests", "schema_version": 3}
    nb.cells = [nbformat.v4.new_markdown_cell("# demo"), setup, sol, test]
    return nb


TEST_BODY = ("assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(2.5) == 3, 'floor first'\n"
             "### END HIDDEN TESTS\n")


def test_student_version_stubs_solutions_and_drops_hidden_tests():
    nb = _exercise_nb("    return math.floor(x) + 1", TEST_BODY)
    release = grading.student_version(nb)
    sol, test = release.cells[2].source, release.cells[3].source
    assert "raise NotImplementedError()" in sol and "floor" not in sol
    assert '"""Doc."""' in sol, "the signature and docstring stay for the student"
    assert test.strip() == "assert f(1) == 2"
    assert grading.find_leaks(nb, release) == []


def test_find_leaks_catches_markers_and_copied_lines():
    nb = _exercise_nb("    return math.floor(x) + 1", TEST_BODY)
    leaked = grading.student_version(nb)
    leaked.cells[2].source += "\n    return math.floor(x) + 1"  # a solution line left behind
    assert "return math.floor(x) + 1" in grading.find_leaks(nb, leaked)
    leaked.cells[3].source += "\n### BEGIN HIDDEN TESTS\n"
    assert grading.HIDDEN_BEGIN in grading.find_leaks(nb, leaked)


def test_exercise_only_keeps_the_first_code_cell_and_the_graded_cells():
    nb = _exercise_nb("    return x + 1", TEST_BODY)
    nb.cells.insert(3, nbformat.v4.new_code_cell("slow_lesson_work()"))
    small = grading.exercise_only(nb)
    assert [c.source for c in small.cells][0] == "import math"
    assert len(small.cells) == 3 and "slow_lesson_work" not in str(small.cells)
    with pytest.raises(ValueError, match="no graded exercise"):
        grading.exercise_only(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]))


def test_nbgrader_validate_fails_a_wrong_solution(tmp_path):
    """The check `make grading` relies on can fail: a wrong solution fails its hidden test."""
    from nbgrader.validator import Validator

    grader._ensure_venv_on_path()
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    nbformat.write(_exercise_nb("    return math.floor(x) + 1", TEST_BODY), good)
    nbformat.write(_exercise_nb("    return x + 1", TEST_BODY), bad)
    assert Validator().validate(str(good)) == {}
    assert len(Validator().validate(str(bad))["failed"]) == 1


@pytest.mark.parametrize("lesson", sorted(ALL_LESSONS))
def test_every_lesson_has_well_formed_exercises(lesson):
    nb = nbformat.read(ALL_LESSONS[lesson], as_version=4)
    cells = grading.graded_cells(nb)
    sols = [c for c in cells if grading.is_solution(c)]
    tests = [c for c in cells if grading.is_test(c)]
    assert len(tests) >= 2, f"{lesson}: at least two graded exercises"
    ids = [grading.nbgrader_meta(c)["grade_id"] for c in cells]
    assert len(ids) == len(set(ids)), f"{lesson}: grade_ids must be unique: {ids}"
    prefix = "l" + lesson[:2] + "_"
    assert all(i.startswith(prefix) for i in ids), f"{lesson}: grade_ids start with {prefix}"
    for c in sols:
        assert grading.SOLUTION_BEGIN in c.source and grading.SOLUTION_END in c.source
        assert c.source.lstrip().startswith(("def ", "import ", "from ", "#")), \
            "a solution cell defines functions, so the student's stub cell still runs"
    for c in tests:
        meta = grading.nbgrader_meta(c)
        assert meta["locked"] and float(meta["points"]) > 0
        assert grading.HIDDEN_BEGIN in c.source, f"{meta['grade_id']}: no hidden tests"
        assert c.get("outputs", []) == [] or all(o["output_type"] == "stream" and o["name"] == "stdout"
                                                 for o in c.outputs), \
            f"{meta['grade_id']}: a source test cell must not error or write to stderr"
    assert grading.find_leaks(nb, grading.student_version(nb)) == []
    # The lesson never calls the student's functions, so the release runs through with stubs.
    names = {m.group(1) for c in sols for m in re.finditer(r"^def (\w+)\(", c.source, re.M)}
    for c in nb.cells:
        if c.cell_type == "code" and c not in cells:
            used = {n for n in names if re.search(rf"(?<![\w.]){n}\b", c.source)}
            assert not used, f"{lesson}: a lesson cell uses the exercise function(s) {used}"


def test_resolve_lessons_by_number_and_clear_error():
    assert grader.resolve_lessons(["05"]) == ["05_cam_resnet18"]
    assert grader.resolve_lessons(None) == list(LESSONS)
    with pytest.raises(ValueError, match="unknown lesson '99'.*choose from"):
        grader.resolve_lessons(["99"])


def test_samples_parse_and_name_real_cells():
    release_nb = grading.student_version(nbformat.read(LESSONS["05_cam_resnet18"], as_version=4))
    source_nb = nbformat.read(LESSONS["05_cam_resnet18"], as_version=4)
    samples = [selftest.read_sample(p) for p in sorted(selftest.SAMPLES.glob("*.py"))]
    assert {s.name for s in samples} >= {"full", "untouched", "partial", "raises", "loops",
                                        "resources", "hostile", "transformer", "monkeypatch",
                                        "lying", "crashes", "stubborn"}
    for s in samples:
        nb = selftest.build_submission(s, release_nb, source_nb)
        ids = {grading.nbgrader_meta(c).get("grade_id") for c in nb.cells}
        assert set(s.expected) <= ids and set(s.cells) <= ids


def test_sample_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("# lesson: 05_cam_resnet18\n")
    with pytest.raises(ValueError, match="expected: grade_id=points"):
        selftest.read_sample(bad)
    bad.write_text("# lesson: 05_cam_resnet18\n# expected: x_tests=1\n# %% no_such_cell\npass\n")
    nb = nbformat.read(LESSONS["05_cam_resnet18"], as_version=4)
    with pytest.raises(ValueError, match="no cell with grade_id 'no_such_cell'"):
        selftest.build_submission(selftest.read_sample(bad), nb, nb)


def test_definitions_only_keeps_defs_imports_and_constants():
    from course_tools import exercise_runner as runner

    src = ("%matplotlib inline\nimport math\nEPS = 1e-12\n\ndef f(x):\n    return x\n\n"
           "get_ipython().input_transformers_post.append(lambda lines: ['pass'])\n"
           "torch.allclose = lambda *a, **k: True\nprint('hi')\n")
    code, dropped = runner.definitions_only(src)
    assert "def f" in code and "import math" in code and "EPS = 1e-12" in code
    assert "get_ipython" not in code and "allclose" not in code and "print" not in code
    assert len(dropped) == 3
    flags = " ".join(runner.review_flags(src))
    assert "IPython" in flags and "assigns torch.allclose" in flags
    assert runner.review_flags("def f(x):\n    return x + 1\n") == []


def test_literal_answers_reach_the_tests_only_as_plain_values():
    """An interpretive question's answer (ANSWER_06_PROBABILITY = "b") is passed to the test cell;
    a str subclass whose __eq__ lies, a module or a mutable list is not."""
    from course_tools import exercise_runner as runner

    class Liar(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    assert all(runner._plain_answer(v) for v in ("b", 3, 0.5, True, (1, "a")))
    assert not any(runner._plain_answer(v) for v in (Liar("b"), runner, [1], (Liar("b"),), None))


def test_collect_rejects_bad_names_and_keeps_broken_submissions(tmp_path):
    lesson = "05_cam_resnet18"
    subs = tmp_path / "subs"
    (subs / "ok" / lesson).mkdir(parents=True)
    (subs / "ok" / lesson / f"{lesson}.ipynb").write_text("{not json")
    (subs / "newline\n" / lesson).mkdir(parents=True)
    (subs / "misnamed" / lesson).mkdir(parents=True)
    (subs / "misnamed" / lesson / "mine.ipynb").write_text("{}")
    (subs / "stray").mkdir()
    (subs / "stray" / "99_unknown.ipynb").write_text("{}")
    found, errors = grader.collect(subs, [lesson])
    by = {s.student: s for s in found}
    assert by["ok"].path is not None and by["misnamed"].problem and "mine.ipynb" in by["misnamed"].problem
    assert any("newline" in e for e in errors) and any("99_unknown" in e for e in errors)
    spec = grader.lesson_spec(nbformat.read(LESSONS[lesson], as_version=4), lesson, f"{lesson}.ipynb")
    with pytest.raises(ValueError, match="not a readable notebook"):
        grader.read_solutions(by["ok"].path, spec)


def test_every_lesson_declares_its_exercise_setup():
    for lesson, path in LESSONS.items():
        nb = nbformat.read(path, as_version=4)
        cells = grader.setup_cells(nb)
        assert cells and all(c.cell_type == "code" for c in cells), lesson
        assert not any(grading.is_solution(c) or grading.is_test(c) for c in cells), lesson


def test_autograde_errors_name_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no submissions folder"):
        grader.autograde(tmp_path / "nothing", tmp_path)
    (tmp_path / "subs").mkdir()
    with pytest.raises(FileNotFoundError, match="course grade release"):
        grader.autograde(tmp_path / "subs", tmp_path / "course")
    # an empty folder: an error, and no stale grades left behind claiming results
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "gradebook.db").write_bytes(b"")
    stale = tmp_path / "grades.csv"
    stale.write_text("student_id,assignment,score\nold,05_cam_resnet18,7\n")
    with pytest.raises(ValueError, match="no submissions found"):
        grader.autograde(tmp_path / "subs", tmp_path / "course", csv_path=stale)
    assert not stale.exists()


@pytest.mark.skipif(not sandbox.available(),
                    reason="unprivileged user namespaces are off here: grading runs without the "
                           "sandbox (see the README's 'What grading protects')")
def test_sandbox_hides_covered_folders_and_other_processes(tmp_path):
    secret, kept = tmp_path / "course", tmp_path / "work"
    (secret / "source").mkdir(parents=True)
    (secret / "source" / "answers.ipynb").write_text("### BEGIN HIDDEN TESTS")
    (kept / "inner").mkdir(parents=True)
    (kept / "mine.txt").write_text("mine")
    (kept / "inner" / "gradebook.db").write_text("db")
    probe = ("import os, sys; print((os.path.exists(sys.argv[1]), os.listdir(sys.argv[2]), "
             "os.path.exists(sys.argv[3]), sum(p.isdigit() for p in os.listdir('/proc'))))")
    cmd = sandbox.command([str(tmp_path), str(kept / "inner")], [str(kept)],
                          [sys.executable, "-c", probe, str(secret / "source" / "answers.ipynb"),
                           str(kept), str(kept / "inner" / "gradebook.db")])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=kept)
    assert out.returncode == 0, out.stderr
    seen_secret, listing, seen_db, n_procs = eval(out.stdout)  # noqa: S307 (our own probe)
    assert not seen_secret, "a covered folder must be invisible"
    assert "mine.txt" in listing, "the kept working copy must stay visible"
    assert not seen_db, "a covered folder inside a kept one is covered again"
    assert n_procs <= 3, f"only the sandbox's own processes are visible, saw {n_procs}"
    assert (secret / "source" / "answers.ipynb").read_text() == "### BEGIN HIDDEN TESTS"
    assert os.path.exists(secret / "source" / "answers.ipynb")


def test_kit_leak_search_finds_a_solution_line(tmp_path):
    import zipfile

    source = nbformat.read(LESSONS["05_cam_resnet18"], as_version=4)
    secret = grading.secret_lines(source)[0]
    clean, leaky = tmp_path / "clean.zip", tmp_path / "leaky.zip"
    release = grading.student_version(source)
    with zipfile.ZipFile(clean, "w") as zf:
        zf.writestr("lessons/05_cam_resnet18.ipynb", nbformat.writes(release))
    release.cells[-1].source += "\n" + secret
    with zipfile.ZipFile(leaky, "w") as zf:
        zf.writestr("lessons/05_cam_resnet18.ipynb", nbformat.writes(release))
    assert grader.kit_leaks(clean, ["05_cam_resnet18"]) == []
    assert any(secret in leak for leak in grader.kit_leaks(leaky, ["05_cam_resnet18"]))


def test_feedback_hides_hidden_tests_only_in_test_cells():
    nb = _exercise_nb("    return x + 1", TEST_BODY)
    nb.cells[2].source += "\n# a student's note: ### BEGIN HIDDEN TESTS (no end marker)"
    out, _ = grading.HideHiddenTests().preprocess(nbformat.from_dict(nb), {})
    assert out.cells[3].source.strip() == "assert f(1) == 2"
    assert "BEGIN HIDDEN TESTS (no end marker)" in out.cells[2].source


def test_student_kit_ships_course_utils_and_the_student_lock_only(tmp_path):
    import tomllib
    import zipfile

    kit = grader.student_kit(tmp_path, [], out=tmp_path / "kit.zip")
    with zipfile.ZipFile(kit) as zf:
        names = set(zf.namelist())
        pyproject = tomllib.loads(zf.read("pyproject.toml").decode())
        readme = zf.read("README.md").decode()
        environment = zf.read("environment.yml").decode()
    assert {"course_utils/explain.py", "course_utils/data/loader.py", "checkpoints/manifest.json",
            "requirements-student.lock", "pyproject.toml", "README.md"} <= names
    assert not [n for n in names if n.startswith(("course_tools/", "tests/", "notebooks/"))]
    assert "requirements.lock" not in names
    assert pyproject["tool"]["setuptools"]["packages"] == ["course_utils", "course_utils.data"]
    assert "scripts" not in pyproject["project"] and "grading" not in pyproject["project"]["optional-dependencies"]
    assert "requirements-student.lock" in readme and "requirements-student.lock" in environment
    lock = (grader.REPO / "requirements-student.lock").read_text()
    assert not {"nbgrader", "pytest", "captum", "grad-cam", "torchcam", "nbval"} & {
        line.split("==")[0] for line in lock.splitlines()}
