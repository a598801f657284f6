# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: install test demo bench clean

$(PY):
	python3 -m venv $(VENV)

# torch + torchvision first (pip's local settings resolve them), then the package with its test extras.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install torch torchvision
	$(PIP) install -e ".[test,extractors,lora]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest

demo: install
	$(VENV)/bin/videocomposer demo --output-dir outputs

bench: install
	$(PY) benchmarks/bench_unet.py

clean:
	rm -rf $(VENV) outputs
