# The README's two commands are `make demo` and `make test`; everything they
# need is installed here, into a virtualenv of the project's own.
PYTHON ?= python3
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
