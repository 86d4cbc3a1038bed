"""Grade one exercise of one submission where the student's code cannot reach the verdict.

A *zygote* (``python -m course_tools.exercise_runner``) is a trusted process per lesson: it
imports the lesson's libraries and runs the lesson's declared set-up cells once (instructor code
only), then serves jobs read as JSON lines on stdin. For each job (one exercise of one
submission) it forks a child, which

1. enters the sandbox where the machine allows it (new user, mount, PID and network namespaces:
   the course directory, submissions, gradebooks, /tmp and the repository's notebooks/ tests/
   .git/ build/ grading/ are covered; only loopback networking; only its own processes), in a
   fresh working copy, under a memory, file-size and CPU limit;
2. installs an audit hook that can never be removed: no frames (``sys._getframe``, ``tb_frame``,
   ``gi_frame`` ...), no ``gc`` object walks, no ``ctypes``, no new processes or threads, no
   signals to other processes, no ``/proc`` files, no code-object or defaults surgery;
3. loads the student's solution cells for exercises 1..k as **definitions only** (imports,
   ``def``, ``class``, literal constants; every other top-level statement is left out and
   reported), in their own namespace: no IPython exists in the child, so input transformers,
   custom exception handlers and display hooks have nothing to attach to;
4. runs the instructor's locked test cell (taken from the course's source notebook, never from
   the submission) in a *separate* namespace where each student function is reachable only
   through a wrapper that (a) snapshots the guarded modules (builtins, torch, torch.Tensor,
   torch.nn.functional, numpy, math, unittest.mock, course_utils.*) before the call and checks
   them by identity after it, together with torch's function/dispatch mode stacks, sys's trace
   and profile hooks and torch's global module hooks, and (b) lets through only results of plain
   types (an exact ``torch.Tensor``, a numpy array of numbers, numbers, strings, containers of
   them; functions come back wrapped the same way): a tensor subclass with a lying
   ``__torch_function__`` or a number with a lying ``__eq__`` is refused;
5. reports ``<nonce> PASS|FAIL <message>`` on a pipe; the nonce was handed to the child before
   any student code ran and lives only in a frame the student cannot reach.

The zygote decides: the exercise scores only when the child exited with status 0 *and* its report
carries the nonce *and* says PASS. A child that is killed, crashes, times out, exits early
(``os._exit(0)``) or writes a forged report scores 0 for that exercise only; the zygote then
kills whatever is left of it (the child is PID 1 of its namespace: everything in it dies with it).

See the README, "What grading protects", for what this does not protect against.
"""
from __future__ import annotations

import ast
import json
import os
import re
import resource
import select
import signal
import sys
import time

# ----------------------------------------------------------------------------------------------
# what the grader reads in a solution cell (pure functions, also used by the grader process)
_MAGIC = re.compile(r"^\s*[%!]")
REVIEW_NAMES = {
    "get_ipython": "IPython", "IPython": "IPython", "sys": "sys", "builtins": "builtins",
    "__builtins__": "builtins", "ctypes": "ctypes", "gc": "gc", "inspect": "inspect",
    "_thread": "threads", "threading": "threads", "signal": "signals", "subprocess": "processes",
    "multiprocessing": "processes", "__import__": "__import__", "globals": "globals()",
    "setattr": "setattr", "delattr": "delattr", "__globals__": "__globals__",
    "__closure__": "__closure__", "__code__": "__code__", "__subclasses__": "__subclasses__",
    "__torch_function__": "__torch_function__", "__torch_dispatch__": "__torch_dispatch__",
    "TorchFunctionMode": "torch function modes", "TorchDispatchMode": "torch dispatch modes",
    "library": "torch.library", "_exit": "os._exit", "kill": "os.kill", "mock": "unittest.mock",
    "importlib": "importlib", "exec": "exec", "eval": "eval", "compile": "compile",
}
# modules of the lessons and the tests: assigning to one of their attributes is monkeypatching
HELPER_MODULES = {"torch", "np", "numpy", "F", "nn", "torchvision", "math", "explain", "hooks",
                  "metrics", "plot", "config", "data", "pretrained", "summary", "models",
                  "course_utils", "unittest", "mock", "os", "json", "warnings", "functools"}


def strip_magics(source: str) -> str:
    """IPython line magics and shell escapes become blank lines (the grader runs plain Python)."""
    return "\n".join("" if _MAGIC.match(ln) else ln for ln in source.splitlines())


def _literal(node) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def definitions_only(source: str) -> tuple[str, list[int]]:
    """The cell's imports, function and class definitions and literal constants, as source, and
    the line numbers of every other top-level statement (left out). Raises SyntaxError."""
    tree = ast.parse(strip_magics(source))
    kept, dropped = [], []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            kept.append(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring or a bare constant
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None \
                and _literal(node.value) \
                and all(isinstance(t, ast.Name) for t in
                        (node.targets if isinstance(node, ast.Assign) else [node.target])):
            kept.append(node)
        else:
            dropped.append(node.lineno)
    return ast.unparse(ast.Module(body=kept, type_ignores=[])), dropped


def review_flags(source: str) -> list[str]:
    """What in a solution cell deserves a look by hand: IPython, sys, builtins, frames, processes,
    the test helpers (monkeypatching a module's attribute) ... ``[]`` for an ordinary cell."""
    try:
        tree = ast.parse(strip_magics(source))
    except SyntaxError:
        return []
    found = {}
    for node in ast.walk(tree):
        name = node.id if isinstance(node, ast.Name) else node.attr \
            if isinstance(node, ast.Attribute) else None
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                top = (getattr(node, "module", None) or alias.name).split(".")[0]
                if top in REVIEW_NAMES:
                    found.setdefault(REVIEW_NAMES[top], node.lineno)
                elif alias.name.split(".")[0] in REVIEW_NAMES:
                    found.setdefault(REVIEW_NAMES[alias.name.split(".")[0]], node.lineno)
        if name in REVIEW_NAMES and not (name == "library" and not _under(node, "torch")):
            found.setdefault(REVIEW_NAMES[name], node.lineno)
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            root = node
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in HELPER_MODULES:
                found.setdefault(f"assigns {ast.unparse(node)}", node.lineno)
    return [f"{what} (line {line})" for what, line in sorted(found.items(), key=lambda kv: kv[1])]


def _under(node, module: str) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
        and node.value.id == module


def names_assigned(source: str) -> set[str]:
    """Every global name a (trusted) test cell binds itself."""
    tree = ast.parse(source)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.add(node.name)
    return out


# ----------------------------------------------------------------------------------------------
# inside the child: the harness
_BLOCKED_EVENTS = ("sys._getframe", "sys._current_frames", "sys._current_exceptions",
                   "sys.settrace", "sys.setprofile", "gc.get_objects", "gc.get_referrers",
                   "gc.get_referents", "os.fork", "os.forkpty", "os.system", "os.exec",
                   "os.posix_spawn", "os.spawn", "os.kill", "os.killpg", "subprocess.Popen",
                   "pty.spawn", "code.__new__",
                   "function.__new__", "sys.setrecursionlimit", "socket.connect",
                   "socket.bind", "socket.sendto", "_thread.start_new_thread")
_DEBUG = bool(os.environ.get("COURSE_GRADE_DEBUG"))
_BLOCKED_ATTRS = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back"})  # reading
_FROZEN_ATTRS = frozenset({"__code__", "__defaults__", "__kwdefaults__"})  # writing


_FRAME_OK: set = set()  # code objects whose frames trusted libraries look at (see _frame_allowlist)


def _frame_allowlist() -> None:
    """course_utils.summary asks for its caller's frame to recognise torchsummaryX's summary():
    that one frame (by code object identity, which student code cannot forge) may be returned."""
    try:
        import torchsummaryX

        _FRAME_OK.add(torchsummaryX.summary.__code__)
    except ImportError:
        pass


def _audit(event, args, _blocked=_BLOCKED_EVENTS, _attrs=_BLOCKED_ATTRS, _frozen=_FROZEN_ATTRS, _str=str,
           _startswith=str.startswith, _realpath=os.path.realpath, _isinstance=isinstance,
           _PE=PermissionError, _VE=ValueError, _bytes=bytes, _fsdecode=os.fsdecode,
           _ok=frozenset()):
    if event == "sys._getframe" and args and getattr(args[0], "f_code", None) in _ok:
        return
    if event in _blocked or _startswith(event, "ctypes."):
        if _DEBUG:
            import faulthandler
            faulthandler.dump_traceback(all_threads=False)
        if event == "sys._getframe":
            raise _VE("grading: frames are not available")  # collections.namedtuple copes
        raise _PE(f"grading: {event} is not allowed while grading")
    if event == "object.__getattr__" and args[1] in _attrs:
        raise _PE(f"grading: {args[1]} is not available while grading")
    if event == "object.__setattr__" and len(args) > 1 and args[1] in _frozen:
        raise _PE(f"grading: setting {args[1]} is not allowed while grading")
    if event == "open" and args and _isinstance(args[0], (_str, _bytes)):
        path = _realpath(_fsdecode(args[0]))
        if path == "/proc" or _startswith(path, "/proc/"):
            raise _PE("grading: /proc is not available while grading")


def _no_stacks() -> None:
    """Libraries that record where they were called from (torch's lazy CUDA calls) get an empty
    stack: frames are closed while grading."""
    import traceback

    traceback.format_stack = lambda *args, **kwargs: []
    traceback.extract_stack = lambda *args, **kwargs: traceback.StackSummary()


def _no_threads() -> None:
    """No new Python threads (one could change the world between a check and an assert)."""
    import _thread
    import threading

    def refuse(*args, **kwargs):
        raise PermissionError("grading: threads are not allowed while grading")

    _thread.start_new_thread = refuse
    threading._start_new_thread = refuse


def _guarded_dicts():
    """(name, dict) of everything a test relies on and a student might patch."""
    import builtins
    import math
    import operator
    import unittest.mock

    import numpy
    import torch
    import torch.nn.functional

    out = [("builtins", vars(builtins)), ("torch", vars(torch)), ("torch.Tensor", vars(torch.Tensor)),
           ("torch.nn.functional", vars(torch.nn.functional)), ("torch.nn", vars(torch.nn)),
           ("torch.nn.Module", vars(torch.nn.Module)), ("numpy", vars(numpy)),
           ("math", vars(math)), ("operator", vars(operator)),
           ("unittest.mock", vars(unittest.mock)), ("torch._C", vars(torch._C)),
           ("torch._C.TensorBase", vars(torch._C.TensorBase)), ("sys.modules", sys.modules),
           ("_thread", vars(sys.modules["_thread"])), ("threading", vars(sys.modules["threading"]))]
    for name in sorted(sys.modules):
        if name.startswith("course_utils") and sys.modules[name] is not None:
            out.append((name, vars(sys.modules[name])))
    return out


def _global_state():
    """Interpreter-wide state the asserts depend on (compared by value)."""
    import torch
    import torch.nn.modules.module as mm

    C = torch._C
    return (sys.gettrace(), sys.getprofile(), sys.excepthook, sys.displayhook,
            getattr(C, "_len_torch_function_stack", lambda: 0)(),
            getattr(C, "_len_torch_dispatch_stack", lambda: 0)(),
            len(mm._global_forward_hooks), len(mm._global_forward_pre_hooks),
            len(mm._global_backward_hooks), len(getattr(mm, "_global_backward_pre_hooks", {})),
            len(getattr(mm, "_global_parameter_registration_hooks", {})))


def run_child(job: dict, setup_ns: dict, nonce: bytes, result_fd: int) -> None:
    """The child's whole life after the sandbox: never returns."""
    write, exit_, hexlify, _ascii = os.write, os._exit, bytes.hex, str.encode
    try:
        import torch

        torch.set_num_threads(1)
        os.chdir(job["workdir"])
        sys.path.insert(0, job["workdir"])
        _no_threads()
        _no_stacks()
        dicts = _guarded_dicts()
        names_of = tuple(tuple(d) for _, d in dicts)
        tables = tuple(d for _, d in dicts)
        labels = tuple(n for n, _ in dicts)
        first = tuple(tuple(map(d.get, keys)) for d, keys in zip(tables, names_of))
        state0 = _global_state()
        # what the test binds itself may change; everything else of its namespace may not
        test_src = job["test"]
        test_code = compile(test_src, f"<test {job['exercise']}>", "exec")
        test_binds = names_assigned(test_src)
        # student code: definitions only, exercises 1..k, each cell as the notebook would run it
        ns_student = dict(setup_ns)
        ns_student["__name__"] = "__main__"
        before = dict(ns_student)
        cell_errors = []
        _frame_allowlist()
        ok = frozenset(_FRAME_OK)
        sys.addaudithook(lambda event, args, _hook=_audit, _ok=ok: _hook(event, args, _ok=_ok))
        # from here on, forever
        for gid, source in job["solutions"]:
            try:
                code, _ = definitions_only(source)
                exec(compile(code, f"<cell {gid}>", "exec"), ns_student)
            except BaseException as err:  # noqa: BLE001 (its cell failed: as in the notebook)
                cell_errors.append(f"{gid}: {type(err).__name__}: {str(err)[:200]}")
        ns_test = dict(setup_ns)
        ns_test["__name__"] = "__main__"
        for name, value in list(ns_student.items()):
            if callable(value) and (name not in before or before[name] is not value):
                ns_test[name] = _wrap(value, tables, names_of, labels, _global_state)
            elif name not in before and _plain_answer(value):  # ANSWER_06_X = "b": a literal
                ns_test[name] = value
        fixed = tuple((k, ns_test[k]) for k in ns_test if k not in test_binds)
        verdict, message = b"PASS", ""
        try:
            exec(test_code, ns_test)
        except _Tampered as err:
            verdict, message = b"FAIL", f"tampering: {err.args[0]}"
        except BaseException as err:  # noqa: BLE001 (any failure of the test is a failure)
            verdict, message = b"FAIL", _describe(err)
        # the same world as before any student code ran
        changed = [f"{labels[i]}.{k}" for i, (d, keys, vals) in enumerate(zip(tables, names_of, first))
                   for k, v in zip(keys, vals) if d.get(k) is not v][:5]
        changed += [f"test namespace: {k}" for k, v in fixed if ns_test.get(k) is not v][:5]
        if _global_state() != state0:
            changed.append("interpreter hooks or torch modes")
        if changed and verdict == b"PASS":
            verdict, message = b"FAIL", "tampering: changed " + ", ".join(changed)
        if cell_errors and verdict == b"FAIL":
            message += " [cell errors: " + "; ".join(cell_errors) + "]"
        write(result_fd, nonce + b" " + verdict + b" " + _ascii(hexlify(message.encode("utf-8", "replace")[:2000])) + b"\n")
        exit_(0)
    except BaseException as err:  # noqa: BLE001
        if os.environ.get("COURSE_GRADE_DEBUG"):
            sys.__stderr__.write(f"grader error: {err!r}\n")
        try:
            write(result_fd, nonce + b" FAIL " + _ascii(hexlify(f"grader error: {err!r}"[:500].encode())) + b"\n")
        finally:
            exit_(0)


def _plain_answer(value, _type=type) -> bool:
    """A literal answer to an interpretive question: an exact str, int, float or bool, or a
    tuple of them (what ``definitions_only`` keeps of ``NAME = <literal>``; no subclass, so no
    lying ``__eq__``)."""
    if _type(value) is tuple:
        return all(_type(v) in (str, int, float, bool) for v in value)
    return _type(value) in (str, int, float, bool)


class _Tampered(BaseException):
    """Raised by a wrapper when a student call changed what the tests rely on."""


def _describe(err: BaseException) -> str:
    try:
        name = type(err).__name__
        # the text of a built-in exception; a student's own exception class is only named (its
        # __str__ would be student code running in the harness)
        text = str(err) if type(err).__module__ == "builtins" else ""
        return f"{name}: {text}"[:1500]
    except BaseException:  # noqa: BLE001
        return "an exception that cannot be shown"


_PLAIN = (type(None), bool, int, float, complex, str, bytes, range, slice)


def _wrap(fn, tables, names_of, labels, global_state, *, _is=None):
    """The student function as the test sees it: checked world, plain results."""
    import functools
    import operator
    import types

    import numpy as np
    import torch

    plain_tensor = (torch.Tensor, torch.nn.Parameter)
    leaf_types = _PLAIN + (torch.dtype, torch.device, torch.Size, torch.layout, torch.memory_format)

    def launder(value, depth=0, _type=type, _isinstance=isinstance, _len=len, _all=all,
                _leaf=leaf_types, _tensor=plain_tensor, _ndarray=np.ndarray, _generic=np.generic,
                _tuple=tuple, _list=list, _dict=dict, _TE=TypeError, _callable=callable,
                _fn_types=(types.FunctionType, types.MethodType, types.BuiltinFunctionType,
                           functools.partial)):
        t = _type(value)
        if depth > 20:
            raise _TE("the result is nested too deeply")
        if t in _leaf or t in _tensor:
            return value
        if t is _ndarray and value.dtype.kind in "biufcSUV?":
            return value
        if _isinstance(value, _generic) and _type(value).__module__ == "numpy" and t is not np.object_:
            return value
        if t.__module__ == "torch.return_types":
            return t(_tuple(launder(v, depth + 1) for v in value))
        if t is _tuple or t is _list:
            return t(launder(v, depth + 1) for v in value)
        if t is _dict:
            return {launder(k, depth + 1): launder(v, depth + 1) for k, v in value.items()}
        if t in _fn_types:
            return _wrap(value, tables, names_of, labels, global_state)
        raise _TE(f"the function returned a {t.__module__}.{t.__qualname__}: grading accepts "
                  "plain tensors, numpy arrays, numbers, strings, functions and lists, tuples "
                  "or dicts of them")

    def wrapper(*args, _fn=fn, _tables=tables, _names=names_of, _labels=labels,
                _state=global_state, _launder=launder, _get=dict.get, _map=map, _tuple=tuple,
                _zip=zip, _is=operator.is_, _all=all, _enumerate=enumerate, _T=_Tampered,
                **kwargs):
        pre = _tuple(_tuple(_map(d.get, keys)) for d, keys in _zip(_tables, _names))
        state = _state()
        try:
            result = _fn(*args, **kwargs)
        finally:
            for i, (d, keys, vals) in _enumerate(_zip(_tables, _names, pre)):
                if not _all(_map(_is, _map(d.get, keys), vals)):
                    bad = [k for k, v in _zip(keys, vals) if d.get(k) is not v][:3]
                    raise _T(f"a call of {getattr(_fn, '__name__', '?')} changed "
                             + ", ".join(f"{_labels[i]}.{k}" for k in bad))
            if _state() != state:
                raise _T(f"a call of {getattr(_fn, '__name__', '?')} changed interpreter hooks, "
                         "torch modes or global module hooks")
        return _launder(result)

    wrapper.__name__ = getattr(fn, "__name__", "student_function")
    wrapper.__doc__ = getattr(fn, "__doc__", None)
    return wrapper


# ----------------------------------------------------------------------------------------------
# the zygote
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
PR_SET_PDEATHSIG = 1


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _enter_sandbox(job: dict) -> None:
    """In the forked child: new namespaces, then fork once more so that the grandchild is PID 1
    of the new PID namespace; the middle process waits and passes the exit status on."""
    import ctypes

    libc = _libc()
    # The zygote already runs in its own user namespace (started under `unshare --user
    # --map-root-user`: a multithreaded process may not create one, and libraries' fork
    # handlers can leave a thread in the child); as its root, the child may create the rest.
    if libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare failed")
    pid = os.fork()
    if pid:  # the middle process: wait for PID 1 of the namespace, pass its status on
        signal.signal(signal.SIGTERM, lambda *_: os._exit(137))
        _, status = os.waitpid(pid, 0)
        os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status)
                 else 128 + os.WTERMSIG(status))
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    from . import sandbox

    MS_REC, MS_PRIVATE = 16384, 1 << 18
    libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    if libc.mount(b"proc", b"/proc", b"proc", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "mounting /proc failed")
    sandbox.cover(job["hide"], job["keep"] + [job["workdir"]])


def _limits(job: dict) -> None:
    vm = 0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                vm = int(line.split()[1]) * 1024
    mem = vm + int(job["memory_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(job["file_bytes"]),) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = int(job["timeout"]) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))


def _run_job(job: dict, setup_ns: dict) -> dict:
    import secrets

    nonce = secrets.token_hex(24).encode()
    rfd, wfd = os.pipe()
    out_path = os.path.join(job["outdir"], f"{job['exercise']}.out")
    out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(rfd)
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out_fd, 1)
            os.dup2(out_fd, 2)
            os.dup2(wfd, 3)  # the result pipe; every other descriptor of the zygote is closed
            wfd = 3
            os.closerange(4, 1 << 16)
            if job["sandbox"]:
                _enter_sandbox(job)
            _limits(job)
            sys.stdout = open(1, "w", buffering=1, closefd=False)
            sys.stderr = open(2, "w", buffering=1, closefd=False)
            job_nonce, nonce = nonce, None  # noqa: F841 (only run_child's frame keeps it)
            run_child(job, setup_ns, job_nonce, wfd)
        except BaseException as err:  # noqa: BLE001
            os.write(2, f"grader: the child could not start: {err!r}\n".encode())
        os._exit(3)
    os.close(wfd)
    os.close(out_fd)
    data, status, timed_out = b"", None, False
    deadline = start + float(job["timeout"])
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([rfd], [], [], min(left, 0.5))
        if ready:
            chunk = os.read(rfd, 65536)
            if chunk and len(data) < 10000:
                data += chunk
            elif not chunk:  # every writer closed: the child is gone or going
                break
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
            break
    if status is None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
    while True:  # whatever is still in the pipe
        ready, _, _ = select.select([rfd], [], [], 0)
        if not ready:
            break
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    seconds = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    output = _tail(out_path)
    lines = data.split(b"\n")
    report = next((ln for ln in lines if ln.startswith(nonce + b" ")), None)
    forged = [ln for ln in lines if ln and not ln.startswith(nonce + b" ")]
    if os.environ.get("COURSE_GRADE_DEBUG"):
        sys.stderr.write(f"debug: code={code} data={data[:300]!r}\n")
    result = {"exercise": job["exercise"], "seconds": round(seconds, 2), "output": output}
    if timed_out:
        result.update(passed=False, outcome="timeout",
                      message=f"timed out after {job['timeout']} s (stopped)")
    elif report is not None and code == 0:
        _, verdict, msg = report.split(b" ", 2)
        message = bytes.fromhex(msg.decode()).decode("utf-8", "replace")
        result.update(passed=verdict == b"PASS", outcome="pass" if verdict == b"PASS" else "fail",
                      message=message)
        if forged:
            result.update(passed=False, outcome="tampered",
                          message="something other than the grader wrote to its result channel")
    else:
        if code < 0 or code >= 128:
            sig = -code if code < 0 else code - 128
            what = {signal.SIGKILL: "was killed (SIGKILL: memory or CPU limit?)",
                    signal.SIGSEGV: "crashed (segmentation fault)",
                    signal.SIGXCPU: "used up its CPU time", signal.SIGABRT: "aborted"}.get(
                sig, f"died of signal {sig}")
            message = f"the process {what} before its test finished"
        else:
            message = f"the process exited (status {code}) before its test finished"
        if forged:
            message += "; it wrote a forged result"
        result.update(passed=False, outcome="crash", message=message)
    return result


def _tail(path: str, limit: int = 4000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def zygote() -> None:
    """Read {"setup": [...]} then one job a line; answer one JSON line per job."""
    libc = _libc()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    proto_out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # set-up prints go nowhere
    hello = json.loads(sys.stdin.readline())
    setup_ns: dict = {"__name__": "__main__"}
    try:
        for source in hello["setup"]:
            exec(compile(strip_magics(source), "<set-up>", "exec"), setup_ns)
        proto_out.write(json.dumps({"ready": True}) + "\n")
    except BaseException as err:  # noqa: BLE001
        proto_out.write(json.dumps({"ready": False, "error": f"{type(err).__name__}: {err}"}) + "\n")
        return
    for line in sys.stdin:
        job = json.loads(line)
        try:
            answer = _run_job(job, setup_ns)
        except Exception as err:  # noqa: BLE001
            answer = {"exercise": job.get("exercise"), "passed": False, "outcome": "error",
                      "message": f"grader error: {type(err).__name__}: {err}", "output": "",
                      "seconds": 0.0}
        proto_out.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    zygote()
