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

.PHONY: setup book notebooks lib run html check test test-tool test-d2l test-chapter lint serve bench bench-convert bench-d2l bench-run bench-html bench-serve clean

setup:
	sh scripts/system-deps.sh
	python3 -m tabbook.envs

book: setup lib
	$(PY) -m tabbook html $(J)

notebooks: setup
	$(PY) -m tabbook notebooks --out _build/notebooks

lib: setup
	$(PY) -m tabbook lib

check: setup
	$(PY) -m tabbook check

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
# framework's own environment, then the chapter run in every framework and
# the tests that read its executed notebooks.
test: setup lint test-tool test-d2l test-chapter

test-tool: setup
	$(PY) -m pytest tests --ignore=tests/d2l --ignore=tests/chapter

test-d2l: setup
	@set -e; for tab in $(TABS); do \
	  echo "== d2l tests in the $$tab environment"; \
	  D2L_FRAMEWORK=$$tab $$(python3 -m tabbook.envs --print-dir $$tab)/bin/python -m pytest tests/d2l; \
	done

test-chapter: run
	$(PY) -m pytest tests/chapter

bench: bench-convert bench-d2l

bench-convert: setup
	$(PY) -m tabbook bench

bench-d2l: setup
	$(PY) bench/d2l_bench.py

# The whole book cold with -j 1 and -j 2, then unchanged reruns (tens of minutes).
bench-run: setup lib
	$(PY) bench/run_bench.py

# Rendering the whole book from the executed notebooks, nothing executed.
bench-html: setup lib
	$(PY) -m tabbook html --no-run

# The live preview: save -> page updated, for a prose edit (our book, a
# 200-section book), a title edit, and a code edit (figures for the README).
bench-serve: setup
	$(PY) bench/serve_bench.py

clean:
	rm -rf _build
