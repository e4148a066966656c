# The book's commands. `make book` builds everything; `make test` tests everything.
# Both start with `make setup`, which is idempotent and quick once the
# environments exist (they live under ~/.cache/tabbook, keyed by requirements).

PY       := .venv/bin/python
TABS     := $(shell sed -n 's/^tabs *= *//p' config.ini | tr -d ' ' | tr ',' ' ')
JOBS     ?=
J        := $(if $(JOBS),-j $(JOBS),)
# Extra flags for `tabbook run`; CI passes --force to execute every notebook.
RUN_FLAGS ?=

# Fashion-MNIST: the shared copy next to the checkout, when there is one.
# Otherwise d2l looks in ../data, /usr/share/datasets/fashion-mnist, then downloads.
SHARED_DATA := $(abspath ../shared/data/fashion-mnist)
ifneq ($(wildcard $(SHARED_DATA)/train-images-idx3-ubyte.gz),)
export D2L_DATA ?= $(SHARED_DATA)
endif

.PHONY: setup book notebooks lib run html pdf slides check test test-tool test-d2l test-chapter lint serve bench bench-convert bench-d2l bench-setup bench-run bench-html bench-compare bench-d2lbook bench-serve clean

setup:
	sh scripts/system-deps.sh
	sh scripts/vendor-js.sh
	python3 -m tabbook.envs

# The HTML book, then its PDFs and decks, then the HTML again (nothing runs) so that it links them.
book: setup lib
	$(PY) -m tabbook html $(J)
	$(PY) -m tabbook pdf
	$(PY) -m tabbook slides
	$(PY) -m tabbook html --no-run

notebooks: setup
	$(PY) -m tabbook notebooks --out _build/notebooks

lib: setup
	$(PY) -m tabbook lib

# One PDF per framework, and slide decks, from the executed notebooks (run what is stale first).
pdf: run
	$(PY) -m tabbook pdf

slides: run
	$(PY) -m tabbook slides

# Strict: a warning (a misspelt config.ini key, a misplaced mark) fails it too.
check: setup
	$(PY) -m tabbook check --strict

run: setup lib
	$(PY) -m tabbook run $(J) $(RUN_FLAGS)

html: setup lib
	$(PY) -m tabbook html $(J)

# The author's loop: a live preview on http://127.0.0.1:8000/ that rebuilds only
# what changed. SERVE_FLAGS="--tabs pytorch --port 8001" runs only PyTorch on a code edit.
SERVE_FLAGS ?=
serve: setup lib
	$(PY) -m tabbook serve $(SERVE_FLAGS)

lint: setup
	$(PY) -m ruff check .

# Everything: lint, the tool's tests (browser tests included), d2l in each
# framework's own environment, then the chapter run in every framework, its
# PDFs and slide decks, and the tests that read them.
test: setup lint check test-tool test-d2l test-chapter

# PYTEST_FLAGS="-m 'not browser and not slow'" gives the fast subset (about a minute).
test-tool: setup
	$(PY) -m pytest tests --ignore=tests/d2l --ignore=tests/chapter $(PYTEST_FLAGS)

# Each framework's d2l tests in its own environment; each saves its activation values,
# then one step compares all frameworks' values (fresh from this run) and fails on any disagreement.
ACTIVATIONS := _build/d2l-activations
test-d2l: setup
	@set -e; rm -rf $(ACTIVATIONS); for tab in $(TABS); do \
	  echo "== d2l tests in the $$tab environment"; \
	  D2L_FRAMEWORK=$$tab D2L_ACTIVATIONS_DIR=$(ACTIVATIONS) $$(python3 -m tabbook.envs --print-dir $$tab)/bin/python -m pytest tests/d2l $(PYTEST_FLAGS); \
	done; \
	echo "== the frameworks agree"; \
	$$(python3 -m tabbook.envs --print-dir $(firstword $(TABS)))/bin/python tests/d2l/activations_agree.py $(ACTIVATIONS) $(TABS)

# The chapter's executed notebooks, and the PDFs and decks made from them (no further execution).
test-chapter: run pdf slides
	$(PY) -m pytest tests/chapter

bench: bench-convert bench-d2l

bench-convert: setup
	$(PY) -m tabbook bench

# d2l's epoch against a plain loop and against its matrix products alone (the floor);
# D2L_BENCH_FLAGS="--threads 1 2 --repeats 5" (or --device cuda, --frameworks jax ...) to change what it measures.
D2L_BENCH_FLAGS ?=
bench-d2l: setup
	$(PY) bench/d2l_bench.py $(D2L_BENCH_FLAGS)

# Where `make setup` spends its time on a machine with no environments (builds them all into a
# temporary cache with pip's cache off; several minutes, about 5 GB in /tmp while it runs).
bench-setup:
	python3 bench/setup_bench.py

# The whole book cold with -j 1 and -j 2, then unchanged reruns (tens of minutes).
bench-run: setup lib
	$(PY) bench/run_bench.py

# Rendering the whole book from the executed notebooks, nothing executed.
bench-html: setup lib
	$(PY) -m tabbook html --no-run

# This checkout's converter and HTML renderer against another checkout's, alternating in one run
# (CPU time): make bench-compare OTHER=/tmp/before (e.g. from git worktree add /tmp/before <commit>).
bench-compare: setup
	@test -n "$(OTHER)" || { echo "make bench-compare OTHER=DIR: DIR is the checkout to compare with (git worktree add DIR <commit>)"; exit 2; }
	$(PY) bench/compare_checkouts.py $(OTHER)
	$(PY) bench/compare_checkouts.py $(OTHER) --html

# Our converter against d2lbook 1.0.3's splitting, on the d2l.ai excerpt, in one run.
bench-d2lbook: setup
	$(PY) bench/convert_vs_d2lbook.py

# The live preview: save -> page updated, for a prose edit (our book, a
# 200-section book), a title edit, and a code edit (figures for the README).
bench-serve: setup
	$(PY) bench/serve_bench.py

clean:
	rm -rf _build
