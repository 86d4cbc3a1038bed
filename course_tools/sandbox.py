"""Start a kernel that cannot see the grader's files: ``python -m course_tools.sandbox``.

nbgrader runs student code with the grader's own privileges and does not sandbox it. When the
machine allows unprivileged user namespaces (``unshare --user``), the grading kernel is started
in new user, mount and PID namespaces where

- every folder named with ``--hide`` (the course directory with the source notebooks and the
  gradebook, the submissions, the scratch gradebook, the repository's notebooks/ tests/ .git
  build/, and /tmp) is covered by an empty, private tmpfs (64 MiB at most), so neither
  solutions nor hidden tests nor the gradebook can be read or written;
- paths named with ``--keep`` (the submission's own working copy, the repository and the
  Python installation, and the kernel's connection file) stay visible even under a hidden folder,
  and a hidden folder inside a kept one is covered again;
- only the kernel's own processes are visible (a fresh /proc), so it cannot reach the grader's
  files through ``/proc/<pid>/root`` or ``/proc/<pid>/cwd`` either.

It shares the network (the kernel talks to the grader over localhost) and every other folder
the grader's user can read. ``available()`` says whether this works here; the grader falls back
to a plain kernel, and says so, where it does not.

Usage (as a kernelspec's argv)::

    python -m course_tools.sandbox --hide DIR --keep DIR ... -- python -m ipykernel_launcher -f F
"""
from __future__ import annotations

import argparse
import ctypes
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from course_utils.paths import REPO_ROOT

UNSHARE = ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child",
           "--mount-proc"]


def _needed() -> list[str]:
    """Folders the kernel cannot run without: this package's repository and the interpreter."""
    return [str(REPO_ROOT), sys.prefix, sys.base_prefix,
            str(Path(os.path.realpath(sys.executable)).parent)]


def command(hide: list[str], keep: list[str], kernel_argv: list[str]) -> list[str]:
    """The full command line that runs ``kernel_argv`` with ``hide`` covered, ``keep`` kept."""
    args = []
    for h in hide:
        args += ["--hide", os.path.realpath(h)]
    for k in keep:
        args += ["--keep", os.path.realpath(k)]
    return [*UNSHARE, sys.executable, "-m", "course_tools.sandbox", "--inside", *args, "--",
            *kernel_argv]


MS_BIND, MS_REC = 4096, 16384


def _mount(libc, source: bytes, target: str, fstype: bytes | None, flags: int, data: bytes | None):
    if libc.mount(source, target.encode(), fstype, flags, data) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"sandbox: mount on {target} failed: {os.strerror(err)}")


def _inside(hide: list[str], keep: list[str], kernel_argv: list[str]) -> None:
    """Runs as root of the new namespaces: cover, re-bind, exec the kernel."""
    if "-f" in kernel_argv:  # the connection file the grader wrote for this kernel (often in /tmp)
        keep = keep + [os.path.realpath(kernel_argv[kernel_argv.index("-f") + 1])]
    cover(hide, keep)
    os.execvp(kernel_argv[0], kernel_argv)


def cover(hide: list[str], keep: list[str]) -> None:
    """As root of new user and mount namespaces: cover every ``hide`` folder with an empty
    tmpfs, bind every ``keep`` path (and what the interpreter needs) back where it was."""
    hide = [os.path.realpath(h) for h in hide]
    keep = [os.path.realpath(k) for k in keep] + _needed()
    hide = [h for h in dict.fromkeys(hide) if os.path.isdir(h)]
    keep = [k for k in dict.fromkeys(keep) if os.path.exists(k)]
    # Open every kept path before anything is covered: /proc/self/fd/N still reaches it after.
    fds = {k: os.open(k, os.O_PATH) for k in keep}
    libc = ctypes.CDLL(None, use_errno=True)
    steps = sorted([(h.count(os.sep), 0, h) for h in hide] + [(k.count(os.sep), 1, k) for k in keep])
    covered: list[str] = []
    rebound: list[str] = []

    def under(path, folders):
        return any(path.startswith(f + os.sep) for f in folders)

    for _, is_keep, path in steps:
        if not is_keep:
            if under(path, covered) and not under(path, rebound):
                continue  # already out of sight under a covered folder
            _mount(libc, b"course-sandbox", path, b"tmpfs", 0, b"size=64m,mode=1777")
            covered.append(path)
        elif under(path, covered):
            if os.path.isdir(f"/proc/self/fd/{fds[path]}"):
                os.makedirs(path, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                open(path, "a").close()
            rebound.append(path)
            # the mount(8) command would resolve the fd's link to the (covered) path name: call
            # mount(2) on the magic link itself
            _mount(libc, f"/proc/self/fd/{fds[path]}".encode(), path, None, MS_BIND | MS_REC, None)
    for fd in fds.values():
        os.close(fd)


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """True when this machine lets an ordinary user start the sandbox (checked once)."""
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    with tempfile.TemporaryDirectory() as outer:
        secret, kept = Path(outer) / "secret", Path(outer) / "kept"
        secret.mkdir(), kept.mkdir()
        (secret / "hidden.txt").write_text("x")
        (kept / "visible.txt").write_text("x")
        check = (f"import os; assert not os.path.exists({str(secret / 'hidden.txt')!r}); "
                 f"assert os.listdir({str(kept)!r}) == ['visible.txt']; "
                 "assert sum(p.isdigit() for p in os.listdir('/proc')) <= 4")
        try:
            done = subprocess.run(command([outer], [str(kept)], [sys.executable, "-c", check]),
                                  capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return False
    return done.returncode == 0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course_tools.sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hide", action="append", default=[], help="folder to cover (repeat)")
    parser.add_argument("--keep", action="append", default=[], help="folder to keep visible (repeat)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("kernel", nargs=argparse.REMAINDER, help="-- then the kernel's command")
    args = parser.parse_args(argv)
    kernel = args.kernel[1:] if args.kernel[:1] == ["--"] else args.kernel
    if not kernel:
        parser.error("give the kernel's command after --")
    if args.inside:
        _inside(args.hide, args.keep, kernel)
    cmd = command(args.hide, args.keep, kernel)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main()
