# specvlm: `make serve` sets up and serves (tiny demo pair unless TARGET/DRAFT are given),
# `make test` sets up and runs the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch and torchvision are pinned together: the HF video processors need a matching torchvision.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
HOST ?= 127.0.0.1
PORT ?= 8000
SERVE_ARGS ?=

.PHONY: install test serve clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e '.[dev,bench]' -e clients/python
	touch $@

test: install
	$(PY) -m pytest -q

serve: install
	$(VENV)/bin/specvlm serve --host $(HOST) --port $(PORT) $(if $(TARGET),--target $(TARGET)) $(if $(DRAFT),--draft $(DRAFT)) $(SERVE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
