"""The course site (course_tools.site), built from the committed notebooks and read in a real browser.

The site is built once per module from copies of notebooks/ (no notebook is executed: about 10 s),
then every page is opened in headless Chromium (Debian's `chromium`, driven by playwright without
downloading a browser) with every request outside file:// and localhost blocked and recorded.
Asserted: formulas typeset by the local MathJax (no raw TeX left in the text, no MathJax error),
each lesson page linking its neighbours and the landing page, each lesson's figures shown and
loaded, search answering, no request leaving the machine. Where Chromium is missing the browser
tests are skipped with the reason (they fail instead under CI=true, where .ci/run installs it).
"""
from __future__ import annotations

import base64
import hashlib
import html as html_text
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from course_tools import site as course_site
from course_tools.grading import find_leaks

# `browser`: the site build and its reads in Chromium (~35 s) are an integration step, `make
# site-test` (which `make test` runs), kept out of `make unit`. Sphinx extensions' own
# deprecation notices are not the course's.
pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                         "ignore::PendingDeprecationWarning")]
ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
STEMS = [p.stem for p in LESSONS]
ORDER = ["index", *STEMS, "running"]          # the book's reading order (previous / next)
CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") \
    or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-default-apps", "--disable-domain-reliability"]


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs Debian's chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    executed = tmp / "notebooks"          # stands for build/notebooks: the committed outputs
    executed.mkdir()
    for path in LESSONS:
        shutil.copyfile(path, executed / path.name)
    runs = {stem: {"seconds": 10.0 + i, "error": None} for i, stem in enumerate(STEMS)}
    lessons = course_site.build_site(executed, tmp / "html", work=tmp / "work", runs=runs,
                                     log=lambda *_: None)
    return tmp / "html", {lesson.stem: lesson for lesson in lessons}


# --- the built files (no browser) -----------------------------------------------------------------

def test_every_page_is_built_and_nothing_is_fetched_from_another_host(site):
    html, lessons = site
    assert sorted(lessons) == STEMS
    for name in [*ORDER, "search"]:
        assert (html / f"{name}.html").is_file(), name
    assert course_site.external_references(html) == []
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert list((html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))


def test_external_reference_check_catches_a_cdn(tmp_path):
    (tmp_path / "a.html").write_text('<script src="https://cdn.example.org/mathjax.js"></script>'
                                     '<link rel="stylesheet" href="//fonts.example.com/x.css">'
                                     '<a href="https://example.org/paper">a paper</a>'
                                     '<script src="http://localhost:8000/ok.js"></script>')
    (tmp_path / "b.css").write_text("@font-face { src: url('https://fonts.example.com/f.woff2') }")
    found = course_site.external_references(tmp_path)
    assert len(found) == 3 and not any("paper" in f or "localhost" in f for f in found)


def test_figures_are_the_notebooks_own_bytes(site):
    """Full quality: every image output of a lesson is in the site byte for byte (PNG or JPEG)."""
    html, _ = site
    shipped = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (html / "_images").iterdir()}
    for path in LESSONS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
                for mime in ("image/png", "image/jpeg"):
                    if mime in out.get("data", {}):
                        digest = hashlib.sha256(base64.b64decode(out["data"][mime])).hexdigest()
                        assert digest in shipped, f"{path.name}: a {mime} output is not in _images"


def test_the_site_shows_the_student_view_of_the_exercises(site):
    html, _ = site
    for path in LESSONS:
        source = nbformat.read(path, as_version=4)
        shown = nbformat.read(html / "_sources" / path.name, as_version=4)
        assert find_leaks(source, shown) == [], path.name
        page = (html / f"{path.stem}.html").read_text(encoding="utf-8")
        assert "BEGIN SOLUTION" not in page and "BEGIN HIDDEN TESTS" not in page
        assert "NotImplementedError" in page        # nbgrader's stub, as students get it


def test_course_map_lists_every_lesson_with_what_it_teaches_its_time_and_notebook(site):
    html, lessons = site
    table = course_site.readme_lesson_table()
    index = (html / "index.html").read_text(encoding="utf-8")
    for i, stem in enumerate(STEMS):
        assert table[stem][0], f"README's lesson table has no entry for {stem}"
        assert f'href="{stem}.html"' in index
        assert f'href="_sources/{stem}.ipynb"' in index
        assert f"runs in {10 + i:.0f} s" in index
        # the page escapes quotes and ampersands: compare with the text a reader sees
        assert lessons[stem].study_time and \
            lessons[stem].study_time in html_text.unescape(index).replace("\n", " ")
    assert 'href="running.html"' in index


def test_a_failed_lesson_is_marked_not_missing():
    nb = nbformat.read(LESSONS[0], as_version=4)
    shown = course_site.site_notebook(nb, error="CellExecutionError\nValueError: boom")
    assert "failed to run" in shown.cells[0].source and "ValueError: boom" in shown.cells[0].source
    lesson = course_site.Lesson(LESSONS[0].stem, "t", error="ValueError: boom")
    assert "did not run" in course_site.course_map([lesson], has_release=False)


# --- in the browser -------------------------------------------------------------------------------

_PAGE_FACTS = """() => {
  const main = document.querySelector('main') || document.body;
  const text = main.cloneNode(true);
  text.querySelectorAll('pre, code, script, style, mjx-assistive-mml, .cell_input')
      .forEach(e => e.remove());
  const imgs = [...main.querySelectorAll('.cell_output img')];
  const a = sel => { const e = document.querySelector(sel); return e ? e.getAttribute('href') : null; };
  return {
    text: text.textContent,
    math: main.querySelectorAll('.math').length,
    typeset: main.querySelectorAll('mjx-container').length,
    errors: main.querySelectorAll('mjx-merror').length,
    images: imgs.length,
    loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    prev: a('a.left-prev'), next: a('a.right-next'),
    home: [...document.querySelectorAll('a')].some(e => e.getAttribute('href') === 'index.html'),
  };
}"""


@pytest.fixture(scope="module")
def browser_visit(site):
    if not CHROMIUM:
        _unavailable("no Chromium on this machine: `apt-get install chromium` (Debian) or set "
                     "COURSE_CHROMIUM to a Chromium binary")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (it is pinned in requirements.lock: make install)")
    html, _ = site
    left_machine: list[str] = []

    def guard(route):
        url = route.request.url
        if re.match(r"(file|data|blob|about):|https?://(localhost|127\.0\.0\.1)[:/]", url):
            route.continue_()
        else:
            left_machine.append(url)
            route.abort()

    facts, search_hits = {}, []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", guard)
        page = context.new_page()
        for name in ORDER:
            page.goto((html / f"{name}.html").as_uri(), wait_until="load")
            if page.query_selector("script[src*='mathjax']"):  # Sphinx adds it where there is math
                page.wait_for_function(
                    "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                    timeout=20_000)
                page.evaluate("() => MathJax.startup.promise")  # typesetting finished
            page.wait_for_function(
                "() => [...document.querySelectorAll('.cell_output img')].every(i => i.complete)",
                timeout=20_000)
            facts[name] = page.evaluate(_PAGE_FACTS)
        page.goto((html / "search.html").as_uri() + "?q=Grad-CAM", wait_until="load")
        page.wait_for_selector("#search-results li", timeout=30_000)
        search_hits = page.eval_on_selector_all("#search-results li a",
                                                "els => els.map(e => e.getAttribute('href'))")
        browser.close()
    return facts, search_hits, left_machine


def test_no_request_leaves_the_machine(browser_visit):
    _, _, left_machine = browser_visit
    assert left_machine == []


@pytest.mark.parametrize("stem", STEMS)
def test_lesson_page_in_the_browser(browser_visit, site, stem):
    facts = browser_visit[0][stem]
    lesson = site[1][stem]
    # formulas typeset by the local MathJax, none left as raw TeX, none in error
    assert facts["typeset"] >= facts["math"], facts
    assert facts["errors"] == 0
    for raw in ("$$", "\\(", "\\[", "\\frac", "\\sum"):
        assert raw not in facts["text"], f"raw TeX {raw!r} left on the page"
    if stem != "01_model_summary":          # lesson 01 has no formula
        assert facts["typeset"] > 0
    # navigation: the neighbours in the book's order, and the landing page
    i = ORDER.index(stem)
    assert facts["prev"] == f"{ORDER[i - 1]}.html" and facts["next"] == f"{ORDER[i + 1]}.html", facts
    assert facts["home"]
    # figures: as many as the notebook's image outputs, every one loaded
    assert facts["images"] == lesson.images > 0
    assert facts["loaded"] == facts["images"]


def test_landing_and_running_pages_in_the_browser(browser_visit):
    facts = browser_visit[0]
    assert facts["index"]["next"] == f"{STEMS[0]}.html"
    assert facts["running"]["prev"] == f"{STEMS[-1]}.html" and facts["running"]["home"]
    assert "Course map" in facts["index"]["text"]


def test_search_finds_a_lesson(browser_visit):
    hits = browser_visit[1]
    assert any(h and h.startswith("06_gradcam.html") for h in hits), hits


@pytest.mark.parametrize("line, short", [
    ("**Time**: about 45 minutes to read and try.", "about 45 min"),
    ("**Time**: about 45 to 60 minutes to read and try.", "about 45 to 60 min"),
    ("**Time**: about an hour to read and try, plus the notebook's run time.", "about an hour"),
])
def test_study_time_is_shortened_to_the_estimate(line, short):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 09 · x\n\n" + line)])
    assert course_site.study_time_of(nb) == short
