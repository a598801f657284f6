# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: install browser test test-diffusers-mixins demo app bench bench-control demo-model clean

$(PY):
	python3 -m venv $(VENV)

# What the demo needs: torch + torchvision first (pip's local settings resolve them), then the package alone.
$(VENV)/.installed-demo: pyproject.toml | $(PY)
	$(PIP) install torch torchvision
	$(PIP) install -e .
	touch $@

# What the tests, the app and the notebook need on top: the extras.
$(VENV)/.installed: pyproject.toml $(VENV)/.installed-demo
	$(PIP) install -e ".[test,extractors,lora,eval,app]"
	touch $@

install: $(VENV)/.installed

# The app's browser test drives Debian's chromium (never a downloaded browser build): install it when missing.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq && apt-get install -y -qq chromium) || echo "could not install chromium: the browser test will be skipped"; \
	  else echo "chromium is missing and apt-get cannot run as root here: tests/app/test_browser.py will be skipped"; fi; \
	fi

test: install browser
	$(PY) -m pytest

# diffusers' own pipeline / model test mixins on ours. diffusers' PyPI sdist ships no tests/, so they come from a
# diffusers checkout: make test-diffusers-mixins DIFFUSERS_TESTS=/path/to/diffusers (records benchmarks/RESULTS.md).
DIFFUSERS_TESTS ?=
test-diffusers-mixins: install
	@test -n "$(DIFFUSERS_TESTS)" || { echo "DIFFUSERS_TESTS=/path/to/a/diffusers/checkout is required"; exit 2; }
	$(PY) benchmarks/run_diffusers_mixins.py --diffusers-tests $(DIFFUSERS_TESTS)

# The demo model's three examples, plus outputs/source.mp4 and outputs/stroke.json (the README's snippets use them).
demo: $(VENV)/.installed-demo
	$(VENV)/bin/videocomposer demo --output-dir outputs

# The browser app on the demo model: http://127.0.0.1:7860
app: install
	$(VENV)/bin/videocomposer app

bench: install
	$(PY) benchmarks/bench_unet.py

bench-control: install
	$(PY) benchmarks/bench_control.py

# Rebuilds the demo model with the project's trainer (videocomposer.train) into build/demo/model: a new model (VAE
# fitted here) by default, or a fine-tune with DEMO_INIT=videocomposer/assets/videocomposer-demo. Resumable: run it
# again to continue from the newest checkpoint in build/demo. Copy build/demo/model over the shipped folder to use it.
DEMO_INIT ?=
DEMO_MINUTES ?= 90
demo-model: install
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m videocomposer.demo.build --work-dir build/demo \
	  --output-dir build/demo/model --train-minutes $(DEMO_MINUTES) $(if $(DEMO_INIT),--init-from $(DEMO_INIT))

clean:
	rm -rf $(VENV) outputs
