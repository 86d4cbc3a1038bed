"""The course as a website: a book built from the executed lesson notebooks, readable offline.

``scripts/build_course.py`` (``make course``) executes every lesson once into build/notebooks/ and
then calls :func:`build_site`, which never runs a notebook again: it lays out a Sphinx source
folder (``site/`` of the repository: ``conf.py``, the "run it yourself" page, the landing page's
template; the notebooks; the landing page with the course map) and builds it with Jupyter Book's
stack (myst-nb with execution off, sphinx-book-theme) into build/html/.

The pages show the *student* view of each lesson: the graded exercises' solutions are replaced by
nbgrader's stub and the hidden tests removed (``course_tools.grading.student_version``), because the
site is for students and ``notebooks/`` holds the solutions. ``solutions=True`` keeps them (a site
for instructors only).

Offline: MathJax 3 is copied into the site by ``sphinx-mathjax-offline``; the theme's fonts and
icons are its own static files. :func:`external_references` lists anything a built page would
fetch from another host, and :func:`build_site` fails if there is any.

    python -m course_tools.site NOTEBOOK_DIR OUT_HTML      # the site from executed notebooks
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .grading import is_solution, is_test, student_version

ROOT = Path(__file__).resolve().parents[1]
SITE_SOURCE = ROOT / "site"
README = ROOT / "README.md"
RUNS_FILE = "runs.json"           # written by build_course.py next to the executed notebooks


class SiteError(RuntimeError):
    """The site could not be built as promised (a lesson missing, a page fetching from the net)."""


@dataclass
class Lesson:
    stem: str
    title: str
    learn: str = ""
    source: str = ""
    study_time: str = ""
    run_seconds: float | None = None
    error: str | None = None           # the lesson failed to run: what went wrong
    images: int = 0                    # image outputs on its page
    release: Path | None = None        # the student release notebook, if `course grade release` ran


# --- reading what the lessons say about themselves ------------------------------------------------

def title_of(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("# ").strip()
    return "untitled"


def study_time_of(nb) -> str:
    """The lesson's own estimate, from its first cells' ``**Time**: about 45 minutes ...`` line,
    shortened to ``about 45 min``."""
    for cell in nb.cells[:3]:
        if cell.cell_type == "markdown":
            m = re.search(r"\*\*Time\*\*:?\s*(.+)", cell.source)
            if m:
                short = re.search(r"(about |around |~)?(\d+(\s*([-–]|to)\s*\d+)?\s*(min|h)|an hour)",
                                  m.group(1))
                return short.group(0) if short else m.group(1).split(";")[0].strip().rstrip(".")
    return ""


def image_outputs(nb) -> int:
    """How many figures a notebook's outputs hold (one per output with an image MIME type)."""
    return sum(1 for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", [])
               if any(k.startswith("image/") for k in out.get("data", {})))


def readme_lesson_table(readme: Path = README) -> dict[str, tuple[str, str]]:
    """``{stem: (what you learn, source)}`` from the README's "The lessons" table (the course map's
    one source of truth: edit the README, and the site follows)."""
    rows: dict[str, tuple[str, str]] = {}
    if not readme.is_file():
        return rows
    text = readme.read_text(encoding="utf-8")
    m = re.search(r"^## The lessons\s*$(.*?)(?=^## )", text, re.M | re.S)
    if not m:
        return rows
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"\d\d", cells[0]):
            rows[cells[1].strip("`")] = (cells[2], cells[3])
    return rows


# --- the site's notebooks -------------------------------------------------------------------------

def site_notebook(nb, *, solutions: bool = False, error: str | None = None):
    """The notebook as its page shows it: the student view of the exercises (unless
    ``solutions``), and a warning at the top if the lesson failed to run."""
    nb = nbformat.from_dict(nb)
    if not solutions:
        nb = student_version(nb)
        for cell in nb.cells:
            if is_solution(cell) or is_test(cell):
                cell.outputs, cell.execution_count = [], None
    if error:
        error = re.sub(r"\x1b\[[0-9;]*m", "", error).strip()      # the traceback's colours
        first = error.splitlines()[-1] if error else "unknown error"
        warning = (":::{error}\nThis lesson **failed to run** when the site was built; its page "
                   "stops where it failed (see the error below).\n\n```text\n"
                   f"{first[:500]}\n```\n:::")
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(warning))
    return nb


def _markdown_cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def course_map(lessons: list[Lesson], has_release: bool) -> str:
    """The landing page's table (a MyST list-table): lesson, what it teaches and from which
    source, its time, its notebooks."""
    lines = [":::{list-table}", ":header-rows: 1", ":class: course-map", ":widths: 30 42 14 14", "",
             "* - Lesson", "  - What you learn", "  - Time", "  - Notebook"]
    for lesson in lessons:
        time_bits = [f"{lesson.study_time} to study"] if lesson.study_time else []
        if lesson.error:
            time_bits.append('<span class="lesson-failed">did not run</span>')
        elif lesson.run_seconds is not None:
            time_bits.append(f"runs in {lesson.run_seconds:.0f} s")
        # The executed notebook is the page's own source (html_copy_source): one copy in the site.
        downloads = [f'<a class="reference download" href="_sources/{lesson.stem}.ipynb" '
                     f'download>executed lesson</a>']
        if lesson.release is not None:
            downloads.append(f"{{download}}`student release <release/{lesson.stem}.ipynb>`")
        elif has_release:
            downloads.append("(no release)")
        learn = _markdown_cell(lesson.learn)
        if lesson.source:
            learn += f" <br><small>Source: {_markdown_cell(lesson.source)}</small>"
        lines += [f"* - {{doc}}`{lesson.stem}`",
                  f"  - {learn or '&nbsp;'}",
                  f"  - {'; '.join(time_bits) or '&nbsp;'}",
                  f"  - {' <br>'.join(downloads)}"]
    lines.append(":::")
    return "\n".join(lines)


def _clean(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def prepare_source(notebooks: list[Path], src: Path, *, runs: dict | None = None,
                   release_dir: Path | None = None, student_kit: Path | None = None,
                   solutions: bool = False, readme: Path = README) -> list[Lesson]:
    """Write the Sphinx source folder ``src``: conf.py and pages from site/, the notebooks as
    their pages show them, the landing page with the course map."""
    _clean(src)
    shutil.copytree(SITE_SOURCE, src, ignore=shutil.ignore_patterns("__pycache__"))
    table = readme_lesson_table(readme)
    runs = runs or {}
    lessons = []
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        run = runs.get(path.stem, {})
        lesson = Lesson(path.stem, title_of(nb), *table.get(path.stem, ("", "")),
                        study_time=study_time_of(nb), run_seconds=run.get("seconds"),
                        error=run.get("error"), images=image_outputs(nb))
        nbformat.write(site_notebook(nb, solutions=solutions, error=lesson.error),
                       src / path.name)
        if release_dir is not None and (release_dir / path.stem / path.name).is_file():
            (src / "release").mkdir(exist_ok=True)
            shutil.copyfile(release_dir / path.stem / path.name, src / "release" / path.name)
            lesson.release = src / "release" / path.name
        lessons.append(lesson)
    page = (src / "index.template.md").read_text(encoding="utf-8")
    (src / "index.template.md").unlink()
    cmap = course_map(lessons, any(lesson.release for lesson in lessons))
    if student_kit is not None and student_kit.is_file():
        shutil.copyfile(student_kit, src / student_kit.name)
        cmap += (f"\n\nEverything a student needs to run the lessons (release notebooks, "
                 f"`course_utils`, checkpoints, install files): {{download}}`the student kit "
                 f"<{student_kit.name}>`.")
    page = page.replace("<!-- course map -->", cmap)
    page = page.replace("<!-- lessons -->", "\n".join(lesson.stem for lesson in lessons))
    (src / "index.md").write_text(page, encoding="utf-8")
    return lessons


# --- checks of the built site ---------------------------------------------------------------------

_FETCHING = re.compile(
    r"""<(?:script|img|iframe|source|video|audio|embed)\b[^>]*?\bsrc\s*=\s*["']?(https?:)?//"""
    r"""|<link\b[^>]*?\bhref\s*=\s*["']?(https?:)?//"""
    r"""|@import\s+(?:url\()?["']?(https?:)?//|url\(\s*["']?(https?:)?//""", re.I)
_LOCAL = re.compile(r"(https?:)?//(localhost|127\.0\.0\.1)[:/]", re.I)


def external_references(html_dir: Path) -> list[str]:
    """Everything in the built pages and stylesheets that a browser would fetch from another host
    (``<script src>``, ``<link href>``, ``<img src>``, CSS ``@import``/``url()``); ordinary links
    (``<a href>``) to further reading are not fetched and are allowed."""
    found = []
    for path in sorted(html_dir.rglob("*")):
        if path.suffix not in (".html", ".css") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in _FETCHING.finditer(text):
            snippet = text[m.start(): m.end() + 80].split(">")[0]
            if not _LOCAL.search(snippet):
                found.append(f"{path.relative_to(html_dir)}: {snippet}")
    return found


def check_site(html_dir: Path, lessons: list[Lesson]) -> list[str]:
    problems = []
    for name in ["index.html", "running.html", "search.html", "_static/mathjax/tex-chtml.js"]:
        if not (html_dir / name).is_file():
            problems.append(f"missing {name}")
    for lesson in lessons:
        page = html_dir / f"{lesson.stem}.html"
        if not page.is_file():
            problems.append(f"lesson page missing: {page.name}")
            continue
        text = page.read_text(encoding="utf-8")
        shown = len(re.findall(r"<img\b", text.split('class="cell_output', 1)[-1])) \
            if lesson.images else 0
        if shown < lesson.images:
            problems.append(f"{page.name}: {shown} figures on the page, {lesson.images} in the notebook")
    problems += [f"fetches from the network: {ref}" for ref in external_references(html_dir)]
    return problems


# --- the build ------------------------------------------------------------------------------------

def build_site(notebook_dir: Path, out_html: Path, *, work: Path | None = None,
               runs: dict | None = None, release_dir: Path | None = None,
               student_kit: Path | None = None, solutions: bool = False,
               log=print) -> list[Lesson]:
    """Build the site from the executed notebooks ``notebook_dir/NN_*.ipynb`` into ``out_html``.

    ``runs``: ``{stem: {"seconds": float, "error": str | None}}`` (default: ``runs.json`` in
    ``notebook_dir``, written by build_course.py). Raises :class:`SiteError` if Sphinx fails, a
    lesson page or figure is missing, or a page would fetch anything from another host."""
    from sphinx.cmd.build import build_main

    notebook_dir, out_html = Path(notebook_dir), Path(out_html)
    notebooks = sorted(notebook_dir.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise SiteError(f"no lesson notebooks in {notebook_dir}")
    if runs is None and (notebook_dir / RUNS_FILE).is_file():
        runs = json.loads((notebook_dir / RUNS_FILE).read_text())
    work = Path(work) if work is not None else out_html.parent / "site-src"
    src, doctrees, warnings = work / "src", work / "doctrees", work / "sphinx-warnings.txt"
    start = time.time()
    lessons = prepare_source(notebooks, src, runs=runs, release_dir=release_dir,
                             student_kit=student_kit, solutions=solutions)
    log(f"site: {len(lessons)} lessons"
        + (", with solutions" if solutions else ", student view of the exercises")
        + (f", student release of {sum(1 for x in lessons if x.release)}" if release_dir else "")
        + f"; running Sphinx (myst-nb, execution off) into {out_html} ...")
    _clean(out_html)
    _clean(doctrees)
    rc = build_main(["-b", "html", "-q", "-d", str(doctrees), "-w", str(warnings),
                     str(src), str(out_html)])
    text = warnings.read_text(encoding="utf-8") if warnings.is_file() else ""
    n_warn = len([ln for ln in text.splitlines() if "WARNING" in ln or "ERROR" in ln])
    if n_warn:
        log(f"site: {n_warn} Sphinx warning(s), listed in {warnings}")
    if rc != 0:
        raise SiteError(f"Sphinx failed (exit {rc}); see {warnings}:\n{text[-3000:]}")
    problems = check_site(out_html, lessons)
    if problems:
        raise SiteError("the built site is not what it should be:\n  " + "\n  ".join(problems))
    log(f"site: built in {time.time() - start:.0f} s: open {out_html / 'index.html'}")
    return lessons


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook_dir", type=Path, help="executed notebooks (NN_*.ipynb)")
    parser.add_argument("out_html", type=Path)
    parser.add_argument("--release-dir", type=Path, default=ROOT / "grading" / "release")
    parser.add_argument("--solutions", action="store_true",
                        help="keep the exercises' solutions and hidden tests (instructors only)")
    args = parser.parse_args(argv)
    release = args.release_dir if args.release_dir.is_dir() else None
    kit = release.parent / "student-kit.zip" if release else None
    try:
        build_site(args.notebook_dir, args.out_html, release_dir=release, student_kit=kit,
                   solutions=args.solutions)
    except SiteError as err:
        print(f"SITE FAILED: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
