# make test: set up .venv (package + test tools + torch oracle), Graphviz dot and Chromium, and run the whole suite.
# make demo: the same set-up without the test tools, then the tour (python -m micrograd_seq demo).
# make lint: ruff (pyflakes, pycodestyle, isort, bugbear, pyupgrade) over the tree and mypy over the package.
# make results: every example's full run, one after another, into docs/results.json, docs/images/ and the pages
#   rendered from docs/templates/. Measured on a shared 2-core machine: 63 minutes for the 30 runs of
#   docs/examples.md and 36 for the LSTM variants study of docs/cells.md (the record holds each run's time).
#   RUNS='sentiment forecast*' does only those runs (python examples/run_all.py --help).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0

.PHONY: test demo lint dot chromium results clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test,examples]' $(TORCH_SPEC)
	touch $@

$(VENV)/.installed-lint: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[lint]'
	touch $@

dot:
	@if command -v dot >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Graphviz (Debian package graphviz) for the dot program"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	else \
		echo "The Graphviz 'dot' program is missing: install it (Debian/Ubuntu: sudo apt-get install graphviz;" \
		     "macOS: brew install graphviz; conda: conda install graphviz). Rendering tests will be skipped."; \
	fi

# The replay page's tests drive headless Chromium over the DevTools protocol (no browser download).
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Chromium (Debian package chromium) for the replay page's browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium fonts-liberation >/dev/null; \
	else \
		echo "Chromium is missing: install it (Debian: sudo apt-get install chromium; Ubuntu:" \
		     "sudo apt-get install chromium-browser; or put chromium on PATH). The browser tests will be skipped."; \
	fi

test: $(VENV)/.installed-test dot chromium
	$(PY) -m pytest

lint: $(VENV)/.installed-lint
	$(PY) -m ruff check .
	$(PY) -m mypy

results: $(VENV)/.installed-test dot
	$(PY) examples/run_all.py $(RUNS)

demo: $(VENV)/.installed-demo dot
	$(PY) -m micrograd_seq demo

clean:
	rm -rf $(VENV) out *.egg-info .pytest_cache .hypothesis
