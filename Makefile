# Two commands do everything on a fresh machine:
#   make course   set up, run every lesson once (offline tier) into build/notebooks, then build the
#                 course site from them into build/html (a book: course map, search, offline math)
#   make test     set up, the prose numbers checked against the outputs, unit tests, the site read in headless Chromium (site-test), every lesson
#                 executed in the full tier on format-true stand-ins, nbval over every notebook
#                 (offline tier forced) natively and, for lessons changed since `make refresh`
#                 checked them, under perturbed arithmetic, + the grading checks
# Others: make lab (JupyterLab on the course), make site (the site again from build/notebooks,
# nothing re-run), make site-test (the site's browser tests alone), make refresh (re-execute the committed notebooks
# on purpose; LESSONS="notebooks/02_....ipynb" for some; refused if an output changes under
# perturbed arithmetic), make train (re-create every checkpoint), make verify (checkpoints vs
# manifest, held-out accuracy re-measured),
# make bench (explanation methods vs reference libraries, written to benchmarks/RESULTS.md),
# make prose-check (numbers quoted in the lessons' markdown that no output, code cell or entry of
# notebooks/prose_numbers_allow.toml backs; LESSONS="notebooks/05_....ipynb" for some).
# Instructors: make release (student versions into grading/release), make autograde
# SUBMISSIONS=folder (grades.csv + feedback), make grading (the checks `make test` runs).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
# Keep freed activation buffers inside the process instead of handing them back to the OS after
# every batch (glibc's defaults do, and re-faulting them made CPU forward passes about 2x slower).
# Only speed changes, never a number.
FAST_MALLOC = MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=4294967296
# The same numbers on every run: offline data, fixed threads, no GPU surprises in the tests.
TEST_ENV = COURSE_DATA=offline COURSE_DEVICE=cpu OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 PYTHONHASHSEED=0 MPLBACKEND=Agg $(FAST_MALLOC)
# Other arithmetic on the same machine: ATen's scalar kernels and lowered MKL/oneDNN instruction
# sets round differently from this CPU's native kernels, as another CPU kind (AVX2 vs AVX-512)
# does. The committed outputs must come out the same under both: that is how a developer on
# either kind proves them portable, and how `make refresh` refuses fragile numbers.
PERTURBED = ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41
# Two notebooks at a time (pytest-xdist, one kernel per worker, a notebook's cells stay together
# and in order): one nbval pass keeps only about one core busy (01 + 03 measured: CPU/wall 0.66
# to 1.0), so on 2 cores two kernels finish sooner. Every lesson sets its own thread count
# (config.setup), so no printed number depends on this. NBVAL_JOBS=0 runs them one by one.
NBVAL_JOBS ?= 2
NBVAL_ON = $(BIN)/python -m pytest -q -p no:randomly -n $(NBVAL_JOBS) --dist loadfile --nbval --nbval-current-env \
	    --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout 300
NBVAL = $(NBVAL_ON) notebooks

.PHONY: install chromium course site site-test test unit full-tier nbval nbval-perturbed nbval-perturbed-all grading release autograde lab refresh train verify bench prose-check clean

install: $(STAMP)

# requirements.lock = requirements-student.lock (the lessons) + the instructor's and CI's tools.
$(STAMP): pyproject.toml requirements.lock requirements-student.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# Debian's chromium for tests/test_site.py (playwright drives it; no browser is downloaded).
# Installed only where it is missing and apt-get can run (root); elsewhere the browser tests say
# why they are skipped (under CI=true they fail instead).
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    echo "installing Debian's chromium for the site's browser tests ..." && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "no chromium (apt-get install chromium): the site's browser tests will be skipped"

course: install
	COURSE_DATA=$${COURSE_DATA:-offline} $(FAST_MALLOC) $(BIN)/python scripts/build_course.py --out build

site: install
	$(BIN)/python -m course_tools.site build/notebooks build/html

site-test: install chromium
	$(TEST_ENV) $(BIN)/python -m pytest -q -m browser tests/test_site.py

test: install chromium prose-check unit site-test full-tier nbval nbval-perturbed grading

# Everything but the site's browser tests (pytest marker `browser`: site-test runs them), the
# whole lessons in the full tier (`fulltier`: full-tier) and the accuracy re-measurement
# (`accuracy`: make verify).
unit: install
	$(TEST_ENV) $(BIN)/python -m pytest -q -m "not accuracy and not fulltier and not browser" tests

nbval: install
	$(TEST_ENV) $(NBVAL)

# Every lesson executed top to bottom under COURSE_DATA=full on format-true stand-ins (real file
# formats, random pixels, random ImageNet weights), and under auto with part of the data present.
full-tier: install
	$(TEST_ENV) $(BIN)/python -m pytest -q -p no:randomly -m fulltier --durations=0 tests/test_full_tier.py

# The same committed outputs, re-computed under other arithmetic (see PERTURBED), for every lesson
# whose code or outputs changed since `make refresh` checked them so (course_tools/portability.py:
# refresh stamps a digest of each lesson's code cells; nothing else writes the stamp).
# nbval-perturbed-all repeats the check for every lesson.
nbval-perturbed: install
	@pending="$$($(BIN)/python -m course_tools.portability pending --check-env "$(PERTURBED)" notebooks/0*.ipynb)"; \
	if [ -z "$$pending" ]; then \
	  echo "nbval-perturbed: every lesson's code and outputs are those that make refresh checked under $(PERTURBED)"; \
	else echo "nbval-perturbed: not checked since their last change:" $$pending; \
	  $(TEST_ENV) $(PERTURBED) $(NBVAL_ON) $$pending; fi

nbval-perturbed-all: install
	$(TEST_ENV) $(PERTURBED) $(NBVAL)

# nbgrader validate on every lesson's exercises, release leak search, every exercise graded alone
# (source solutions pass, untouched release fails), then the sample submissions in
# tests/grading/samples are graded and their scores compared, sandboxed and without the sandbox.
grading: install
	$(TEST_ENV) $(BIN)/course grade check
	$(TEST_ENV) $(BIN)/course grade selftest
	$(TEST_ENV) $(BIN)/course grade selftest --no-sandbox

release: install
	$(BIN)/course grade release

autograde: install
	@test -n "$(SUBMISSIONS)" || { echo "usage: make autograde SUBMISSIONS=folder/of/<student>/<lesson>/<lesson>.ipynb"; exit 2; }
	$(FAST_MALLOC) $(BIN)/course grade autograde "$(SUBMISSIONS)" --jobs $${JOBS:-2}

lab: install
	$(FAST_MALLOC) $(BIN)/jupyter lab notebooks

refresh: install
	$(TEST_ENV) $(BIN)/python scripts/build_course.py --in-place --check-env "$(PERTURBED)" $(LESSONS)

train: install
	$(FAST_MALLOC) $(BIN)/course train all

# sha256 and size budget of every checkpoint, then each one's held-out accuracy re-measured
# (the unit suite re-measures only one small model: pytest's `accuracy` marker).
verify: install
	$(BIN)/course verify
	$(TEST_ENV) $(BIN)/python -m pytest -q -m accuracy tests/test_checkpoints.py

bench: install
	$(TEST_ENV) $(BIN)/course bench --out benchmarks/RESULTS.md

# Stale prose: every number in a lesson's markdown must appear in its committed outputs, its
# code, the prose's own checked arithmetic or the allowlist (with a reason). Static: runs nothing.
prose-check: install
	$(BIN)/python -m course_tools.prose_numbers $(LESSONS)

clean:
	rm -rf build
