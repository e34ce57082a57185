# The two commands of the README: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SANDBOX_VENV := .venv-sandbox

.PHONY: run test deps lint bench clean bubblewrap

$(BIN)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/htmx-ext-ws/dist/ws.js static/vendor/htmx-ext-ws.js
	cp node_modules/uplot/dist/uPlot.iife.min.js static/vendor/uPlot.iife.min.js
	cp node_modules/uplot/dist/uPlot.min.css static/vendor/uPlot.min.css
	touch $@

# The interpreter of the sandbox's local containers (kubesim --runtime local), apart from
# the portal's own environment.
$(SANDBOX_VENV)/.installed: requirements-sandbox.lock
	test -x $(SANDBOX_VENV)/bin/python || $(PY) -m venv $(SANDBOX_VENV)
	$(SANDBOX_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SANDBOX_VENV)/bin/python -m pip install --quiet -r requirements-sandbox.lock
	touch $@

# bubblewrap gives each local container its own mount and PID namespace; where it cannot
# be installed (not root, no apt), kubesim falls back to unshare or to simulated pods.
bubblewrap:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
		|| echo "bubblewrap not installed: the sandbox's local runtime uses unshare, or simulates"; }

deps: $(BIN)/.installed static/vendor/.installed $(SANDBOX_VENV)/.installed bubblewrap

run: deps
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py runportal

test: deps
	bash scripts/test.sh

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: deps
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(SANDBOX_VENV) node_modules static/vendor var
