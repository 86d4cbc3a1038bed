"""`course grade bench`: how fast grading is (a benchmark, not a test).

Grades ``--count`` copies of one sample submission (``--sample``, default ``full``) of its lesson
with ``--jobs`` at a time (or on ``--scheduler``), times one plain execution of the same lesson
(the source notebook, every cell, in a fresh kernel), and prints submissions per minute, the cost
of one submission relative to the plain execution, and the projected time for 1,000 students x
8 lessons on this machine and on N such machines.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import nbformat


def plain_lesson_seconds(lesson: str) -> float:
    from nbclient import NotebookClient

    from . import grader

    path = grader.lesson_notebooks()[lesson]
    nb = nbformat.read(path, as_version=4)
    start = time.time()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.time() - start


def main(args) -> int:
    from . import grader, selftest

    sample = selftest.read_sample(selftest.SAMPLES / f"{args.sample}.py")
    with tempfile.TemporaryDirectory(prefix="course-grade-bench-") as tmp:
        course, subs = Path(tmp) / "course", Path(tmp) / "submitted"
        released = grader.release([sample.lesson], course)
        rel = nbformat.read(released[sample.lesson], as_version=4)
        src = nbformat.read(grader.lesson_notebooks()[sample.lesson], as_version=4)
        nb = selftest.build_submission(sample, rel, src)
        for i in range(args.count):
            target = subs / f"student{i:04d}" / sample.lesson / released[sample.lesson].name
            target.parent.mkdir(parents=True)
            nbformat.write(nb, target)
        start = time.time()
        results = grader.autograde(subs, course, timeout=args.timeout, jobs=args.jobs,
                                   scheduler=args.scheduler, csv_path=Path(tmp) / "grades.csv",
                                   use_sandbox=False if args.no_sandbox else None,
                                   log=lambda *a: None)
        graded_s = time.time() - start
    plain_s = plain_lesson_seconds(sample.lesson)
    per_sub = graded_s / len(results)
    per_min = 60 / per_sub
    total_1000x8 = 8000 * per_sub
    where = f"scheduler {args.scheduler}" if args.scheduler else f"--jobs {args.jobs}"
    print(f"lesson {sample.lesson}, sample '{args.sample}', {len(results)} submissions, {where}:")
    print(f"  grading wall time        {graded_s:7.1f} s (set-up of the zygotes included)")
    print(f"  submissions per minute   {per_min:7.1f}")
    print(f"  one plain lesson run     {plain_s:7.1f} s")
    print(f"  cost per submission      {per_sub / plain_s:7.3f} x one plain run of the lesson")
    print(f"  1,000 students x 8 lessons: {total_1000x8 / 3600:.1f} h here; on N such machines "
          f"about {total_1000x8 / 3600:.1f} h / N (the work is independent per submission; "
          "assumes the other lessons cost what this one does)")
    return 0
