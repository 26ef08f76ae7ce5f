# Two entry points: `make demo` (the main job) and `make test` (the suite). Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: demo test setup bytecode clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m compileall -q engine plugins  # bytecode, as installing a wheel writes it (editable installs do not)
	touch $@

setup: $(VENV)/.installed

# Modules edited since setup: compiled again (only those), or every process compiles them where
# PYTHONDONTWRITEBYTECODE is set.
bytecode: $(VENV)/.installed
	$(PY) -m compileall -q engine plugins

demo: bytecode
	$(VENV)/bin/connect-engine demo

test: bytecode
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var *.egg-info
