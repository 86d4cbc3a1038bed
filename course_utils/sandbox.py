"""Start a kernel that cannot see the grader's files: ``python -m course_utils.sandbox``.

nbgrader runs student code with the grader's own privileges and does not sandbox it. When the
machine allows unprivileged user namespaces (``unshare --user``), the grading kernel is started
in new user, mount and PID namespaces where

- every folder named with ``--hide`` (the course directory with the source notebooks and the
  gradebook, the other submissions, the repository's notebooks/ and tests/) is covered by an
  empty read-only tmpfs, so neither solutions nor hidden tests nor the gradebook can be read or
  written;
- only the kernel's own processes are visible (a fresh /proc), so it cannot reach the grader's
  files through ``/proc/<pid>/root`` or ``/proc/<pid>/cwd`` either.

It shares the network (the kernel talks to the grader over localhost) and the rest of the file
system (Python, course_utils, data, checkpoints). ``available()`` says whether this works here;
the grader falls back to a plain kernel, and says so, where it does not.

Usage (as a kernelspec's argv)::

    python -m course_utils.sandbox --hide DIR [--hide DIR ...] -- python -m ipykernel_launcher -f F
"""
from __future__ import annotations

import argparse
import functools
import os
import shutil
import subprocess
import sys

# Run as root *inside* the new user namespace (mapped to the grader's own user outside), cover
# each hidden folder, then exec the kernel. "$@" after the folders is the kernel's command line.
_COVER = r'''
set -e
n="$1"; shift
i=0
while [ "$i" -lt "$n" ]; do
    mount -t tmpfs -o ro,size=4k,mode=0555 course-sandbox "$1"
    shift; i=$((i + 1))
done
exec "$@"
'''


def command(hide: list[str], kernel_argv: list[str]) -> list[str]:
    """The full command line that runs ``kernel_argv`` with ``hide`` covered."""
    hide = [os.path.realpath(h) for h in hide if os.path.isdir(h)]
    return ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child",
            "--mount-proc", "sh", "-c", _COVER, "course-sandbox", str(len(hide)), *hide, *kernel_argv]


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """True when this machine lets an ordinary user start the sandbox (checked once)."""
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    probe = os.path.realpath(os.path.dirname(__file__))
    check = f"test -z \"$(ls -A {probe})\" && test \"$(ls /proc | grep -c '^[0-9]')\" -le 8"
    try:
        done = subprocess.run(command([probe], ["sh", "-c", check]), capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course_utils.sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hide", action="append", default=[], help="folder to cover (repeat)")
    parser.add_argument("kernel", nargs=argparse.REMAINDER, help="-- then the kernel's command")
    args = parser.parse_args(argv)
    kernel = args.kernel[1:] if args.kernel[:1] == ["--"] else args.kernel
    if not kernel:
        parser.error("give the kernel's command after --")
    cmd = command(args.hide, kernel)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
