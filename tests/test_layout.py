"""The two packages keep to their rooms: course_utils (what lessons import) never imports
course_tools (grading, sandbox, benchmark, training, CLI) nor the instructor's libraries, and
no module of either package takes part in an import cycle."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("course_utils", "course_tools")
# What a student's install does not have (requirements-student.lock).
INSTRUCTOR_ONLY = ("course_tools", "nbgrader", "pytest", "captum", "pytorch_grad_cam", "torchcam",
                   "nbval", "sqlalchemy", "cv2", "sphinx", "myst_nb", "playwright", "dask",
                   "distributed")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules that ``name`` imports, at any depth of its code (lazy ones too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pkg import sub`` imports the module pkg.sub; ``from mod import name`` mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def test_course_utils_imports_nothing_from_course_tools():
    offenders = {name: sorted(d for d in deps if d.startswith("course_tools"))
                 for name, deps in _graph().items() if name.startswith("course_utils")}
    assert not {k: v for k, v in offenders.items() if v}


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(dep):] + [dep]))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    """The check above can fail: a made-up package whose two modules import each other."""
    pkg = tmp_path / "course_utils"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    try:
        test_no_import_cycles()
    except AssertionError as err:
        assert "course_utils.a -> course_utils.b -> course_utils.a" in str(err)
    else:
        raise AssertionError("the cycle was not found")


def test_importing_course_utils_loads_no_instructor_library():
    """Every course_utils module, imported in one fresh interpreter (one, since each start costs
    seconds of torch import): none of the instructor's or the tests' packages ends up in
    sys.modules, and the lessons' import line works, with course_utils.scenes as an alias."""
    names = sorted(n for n in _modules() if n.startswith("course_utils"))
    code = ("import importlib, json, sys\n"
            "from course_utils import config, data, explain, hooks, metrics, plot, pretrained, "
            "models, summary, scenes\n"
            "import course_utils.data.scenes as s\n"
            "assert scenes is s\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    assert "course_utils" in loaded
    assert not loaded & set(INSTRUCTOR_ONLY), sorted(loaded & set(INSTRUCTOR_ONLY))
