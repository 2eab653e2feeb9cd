# Run `make` (or `make help`) to list the targets.

PYTHON ?= python3
VENV := .venv
VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Extra arguments for pytest, given to both lanes of `make test`, e.g. `make test PYTEST_ARGS="-k selector -x"`.
PYTEST_ARGS ?=
# A second virtualenv with Spark 3.5, for the transforms the Scala connector's Spark 3 clusters run.
SPARK3_VENV ?= .venv-spark3
# Where `make wheel` puts the wheel, e.g. `make wheel DIST=/tmp/out`.
DIST ?= dist
# Azurite (the Azure Storage emulator, npm), installed into the project: 3.35.0 is the last release that
# runs on Node 20; newer ones need Node 21+.
AZURITE_VERSION := 3.35.0
AZURITE_BIN := .azurite/node_modules/.bin/azurite
# Named after the version, so changing AZURITE_VERSION installs that one.
AZURITE_STAMP := .azurite/.installed-$(AZURITE_VERSION)

.DEFAULT_GOAL := help
.PHONY: help venv java node azurite-install azurite run-consumers test test-spark3 test-compat test-connector lint bench bench-sink emulator run run-connector integration-venvs wheel clean

help: ## list the targets
	@echo "Usage: make TARGET"
	@echo
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(firstword $(MAKEFILE_LIST)) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv and install hubstream with its dev tools (redone when pyproject.toml changes)

$(VENV_PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || { \
		echo "error: hubstream needs Python 3.11 or newer, but '$(PYTHON)' is" \
			"$$($(PYTHON) --version 2>&1 || echo 'not installed')." >&2; \
		echo "Install Python 3.11+ and point make at it: make venv PYTHON=python3.11" >&2; \
		exit 1; }
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "error: '$(PYTHON) -m venv' failed; on Debian/Ubuntu: sudo apt-get install python3-venv" >&2; \
		exit 1; }

# The stamp is only touched after a successful install, so a failed install is retried next time.
$(STAMP): pyproject.toml | $(VENV_PY)
	$(VENV_PY) -m pip install -e ".[dev]"
	@touch $@

java: ## check that Java 17+ is installed (Spark needs it)
	@v=$$(java -version 2>&1 | awk -F'"' '/version/ {print $$2; exit}'); \
	major=$$(echo "$$v" | sed -E 's/^1\.//; s/^([0-9]+).*/\1/'); \
	case "$$major" in ''|*[!0-9]*) major=0 ;; esac; \
	if [ "$$major" -lt 17 ]; then \
		if command -v java >/dev/null 2>&1; then \
			echo "error: Spark needs Java 17 or newer, but 'java -version' says '$$v'." >&2; \
		else \
			echo "error: Spark needs Java 17 or newer, and 'java' is not on PATH." >&2; \
		fi; \
		echo "Install it with:" >&2; \
		echo "  Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless" >&2; \
		echo "  macOS:         brew install openjdk@17" >&2; \
		echo "then make sure 'java -version' shows 17 or newer (set JAVA_HOME/PATH if needed)." >&2; \
		exit 1; \
	fi; \
	echo "java $$v: ok"

node: ## check that Node.js 18+ and npm are installed (Azurite needs them)
	@v=$$(node --version 2>/dev/null | sed 's/^v//'); \
	major=$$(echo "$$v" | sed -E 's/^([0-9]+).*/\1/'); \
	case "$$major" in ''|*[!0-9]*) major=0 ;; esac; \
	if [ "$$major" -lt 18 ] || ! command -v npm >/dev/null 2>&1; then \
		if ! command -v node >/dev/null 2>&1; then \
			echo "error: Azurite needs Node.js 18 or newer (20 recommended), and 'node' is not on PATH." >&2; \
		elif [ "$$major" -lt 18 ]; then \
			echo "error: Azurite needs Node.js 18 or newer (20 recommended), but 'node --version' says v$$v." >&2; \
		else \
			echo "error: Azurite is installed with npm, and 'npm' is not on PATH." >&2; \
		fi; \
		echo "Install it with:" >&2; \
		echo "  Debian/Ubuntu: curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash - && sudo apt-get install nodejs" >&2; \
		echo "  macOS:         brew install node@20" >&2; \
		echo "  anywhere:      nvm install 20 (https://github.com/nvm-sh/nvm)" >&2; \
		echo "then make sure 'node --version' shows v18 or newer and 'npm' is on PATH." >&2; \
		exit 1; \
	fi; \
	echo "node v$$v: ok"

# Into .azurite/ (not globally); python -m azurite runs $(AZURITE_BIN)-blob from there.
$(AZURITE_STAMP):
	@$(MAKE) --no-print-directory node
	npm install --prefix .azurite --no-audit --no-fund azurite@$(AZURITE_VERSION)
	@test -x $(AZURITE_BIN) || { echo "error: npm did not install $(AZURITE_BIN)" >&2; exit 1; }
	@rm -f .azurite/.installed-*
	@touch $@

$(AZURITE_BIN): $(AZURITE_STAMP)

azurite-install: $(AZURITE_STAMP) ## install Azurite, the local Blob Storage (npm, pinned: AZURITE_VERSION), into .azurite/

azurite: venv azurite-install ## run Azurite's Blob service in the foreground (python -m azurite --help)
	$(VENV_PY) -m azurite

test: venv azurite-install ## run the test suite (two pytest processes side by side: tests/lanes.py)
	$(VENV_PY) tests/lanes.py $(PYTEST_ARGS)

$(SPARK3_VENV)/.installed:
	$(PYTHON) -m venv $(SPARK3_VENV)
	$(SPARK3_VENV)/bin/pip install 'pyspark==3.5.*' 'chispa>=0.11,<1' 'pytest>=8,<10' \
		'pytest-timeout>=2.3,<3' 'pyarrow>=15,<27' pandas
	@touch $@

# --noconftest: the suite's conftest needs Spark 4; the transforms' tests bring their own session.
test-spark3: java $(SPARK3_VENV)/.installed ## run the transforms' tests on Spark 3.5 (the Scala connector's clusters)
	PYTHONPATH=. $(SPARK3_VENV)/bin/pytest --noconftest -p no:cacheprovider tests/jobs/test_transforms.py $(PYTEST_ARGS)

# The Scala connector (com.microsoft.azure:azure-eventhubs-spark_2.12:2.3.22) on Spark 3.5, in .venv-spark3
# with hubstream installed editable (no extra: the venv keeps its pyspark 3.5), for the emulator and the
# producer beside it. Spark fetches the connector's jars from Maven Central through Ivy into .ivy2/ here,
# once: later runs and a fresh clone's second run read them from there.
IVY_DIR ?= .ivy2
$(SPARK3_VENV)/.hubstream: pyproject.toml $(SPARK3_VENV)/.installed
	$(SPARK3_VENV)/bin/pip install -e .
	@touch $@

run-connector: java $(SPARK3_VENV)/.hubstream ## the tutorial's reader: the Scala connector on Spark 3.5 reads the emulator over TLS
	$(SPARK3_VENV)/bin/python -m demos.read_with_connector

# --confcutdir: only tests/connector/conftest.py (the suite's conftest needs Spark 4). The parity test runs
# our source on Spark 4 in .venv (HUBSTREAM_SPARK4_PYTHON) beside the connector on 3.5.
test-connector: java venv $(SPARK3_VENV)/.hubstream ## the Scala connector on Spark 3.5 against the emulator over TLS, and beside our source on Spark 4
	HUBSTREAM_SPARK4_PYTHON=$(VENV_PY) $(SPARK3_VENV)/bin/pytest --confcutdir=tests/connector -p no:cacheprovider \
		tests/connector $(PYTEST_ARGS)

# Spark 4.0 and 4.1 (Databricks Runtime 17.3 LTS and 18), each in its own virtualenv (.venv-spark40,
# .venv-spark41) with hubstream installed editable: the source's streaming tests, batch caps, restarts,
# starting positions, data loss and Spark Connect (a local Connect server of that version).
COMPAT_SPARK ?= 40 41
COMPAT_TESTS := tests/compat tests/jobs/test_datasource_reader.py tests/jobs/test_datasource_self_capping.py \
	tests/jobs/test_datasource_stream.py tests/jobs/test_data_loss.py
# One available-now run reads one capped micro-batch on 4.0/4.1, so this test's single run cannot read
# everything there; tests/compat/test_stream_triggers.py makes the same checks run by run.
COMPAT_DESELECT := --deselect tests/jobs/test_datasource_stream.py::test_exactly_once_across_restarts

# pyspark[connect] pinned by name: `.[dev]` asks for the connect extra, and pip would otherwise try every
# newer pyspark (a 450 MB source download each) before settling on the pinned one.
.venv-spark4%/.installed: pyproject.toml
	$(PYTHON) -m venv .venv-spark4$*
	.venv-spark4$*/bin/pip install -e ".[dev]" 'pyspark[connect]==4.$*.*'
	@touch $@

INTEGRATION_VENVS := $(SPARK3_VENV)/.hubstream $(foreach v,$(COMPAT_SPARK),.venv-spark$(v)/.installed)

# One after the other (-j1): each editable install writes hubstream.egg-info into the tree.
integration-venvs: ## build the virtualenvs of test-spark3, test-connector and test-compat
	$(MAKE) -j1 $(INTEGRATION_VENVS)

test-compat: java $(foreach v,$(COMPAT_SPARK),.venv-spark$(v)/.installed) ## the source's streaming and Spark Connect tests on Spark 4.0 and 4.1
	@set -e; for v in $(COMPAT_SPARK); do \
		echo "== pyspark $$(.venv-spark$$v/bin/python -c 'import pyspark; print(pyspark.__version__)')"; \
		.venv-spark$$v/bin/pytest -p no:cacheprovider $(COMPAT_TESTS) $(COMPAT_DESELECT) $(PYTEST_ARGS); \
	done

lint: venv ## ruff and mypy over the code and the tests
	$(VENV)/bin/ruff check amqp10 childprocess eventhubs hubclient emulator azurite conf producers consumers jobs demos bench tests notebooks
	$(VENV)/bin/ruff format --check amqp10 childprocess eventhubs hubclient emulator azurite conf producers consumers jobs demos bench tests notebooks
	$(VENV)/bin/mypy amqp10 childprocess eventhubs hubclient emulator azurite conf producers consumers jobs demos bench tests

bench: venv java $(SPARK3_VENV)/.hubstream ## run the benchmarks (the connector's in .venv-spark3, built if missing)
	$(VENV_PY) -m bench

bench-sink: venv ## only the sink benchmarks: our sender and engine vs the SDK producer, the Spark sink
	$(VENV_PY) -m bench --only sink

emulator: venv ## start the Event Hubs emulator in the foreground (python -m emulator)
	$(VENV_PY) -m emulator

run: venv java ## start the emulator, send test events, read them with Spark in readable batches
	$(VENV_PY) -m demos.read_events

run-consumers: venv azurite-install ## two checkpointing consumers share a hub on Azurite; one is killed, one takes over
	$(VENV_PY) -m demos.consumers

.PHONY: run-capture
run-capture: venv azurite-install ## the Capture tutorial: emulator Capture into Azurite, 10 devices x 20 readings, CSVs checked
	$(VENV_PY) -m demos.capture

# Only pip is needed (setuptools comes in pip's isolated build environment), so not the dev install.
# build/ and *.egg-info are removed before and after: setuptools would otherwise package what they list
# from earlier builds (modules deleted since, data files pyproject.toml no longer names).
wheel: | $(VENV_PY) ## build dist/hubstream-<version>-py3-none-any.whl, the package a cluster installs (DIST=dir)
	rm -rf build *.egg-info
	$(VENV_PY) -m pip wheel --no-deps --wheel-dir $(DIST) .
	rm -rf build *.egg-info
	@echo "built: $$(ls -t $(DIST)/hubstream-*.whl | head -n 1)"

clean: ## remove build output and tool caches (keeps .venv; rm -rf .venv to rebuild it)
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
