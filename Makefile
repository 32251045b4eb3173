# A virtual environment with a CPU PyTorch, then the project in editable mode.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo
# Where pip may find the CPU build of PyTorch: on Linux a bare `torch` from PyPI is a multi-GB
# CUDA build. The default is PyTorch's CPU wheel index; empty (TORCH_INDEX=) leaves pip as it is
# configured; a GPU user sets a CUDA index, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cu126
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: install docs-env demo test test-slow docs bench lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, from TORCH_INDEX: the project's own `torch` requirement is then met
	$(BIN)/pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	# the llc extra (devinterp 1.x, ~130 kB with einops) too, so that its tests run
	$(BIN)/pip install -q -e '.[test,llc]'
	touch $@

docs-env: $(VENV)/.docs-installed

# the docs extra (Sphinx and its extensions); with it, the tests of the CLI reference run too
$(VENV)/.docs-installed: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[docs]'
	touch $@

demo: install  ## train the default recipe, describe the run, analyse it
	mkdir -p $(OUT)
	$(BIN)/grokscan train -o $(OUT)/run.h5 --force
	$(BIN)/grokscan info $(OUT)/run.h5
	$(BIN)/grokscan analyze $(OUT)/run.h5 -o $(OUT)

test: install  ## the default suite (fast), in two processes
	$(BIN)/pytest -n 2

test-slow: install  ## the long runs (the fuzz pass, real grokking at P = 97)
	$(BIN)/pytest -m slow -n 2

docs: docs-env  ## the documentation site, into docs/_build/html (tutorials run; warnings are errors)
	rm -rf docs/_build/html docs/gallery docs/reference/api
	cd docs && OMP_NUM_THREADS=1 $(abspath $(BIN))/sphinx-build -W --keep-going -n -j 2 -q -b html . _build/html

bench: install  ## benchmarks (scripts/bench_*.py); each prints its figures, measured in one run
	$(BIN)/python scripts/bench_startup.py
	$(BIN)/python scripts/bench_threads.py
	$(BIN)/python scripts/bench_denormal.py
	$(BIN)/python scripts/bench_record.py
	$(BIN)/python scripts/bench_analyze.py
	$(BIN)/python scripts/bench_ising.py
	$(BIN)/python scripts/bench_factor.py --p 20,21,23 --seeds 1
	$(BIN)/python scripts/bench_sweep.py
	$(BIN)/python scripts/bench_watch.py --steps 400 --reps 2
	$(BIN)/python scripts/bench_onset.py
	$(BIN)/python scripts/bench_onset_live.py

lint: install
	$(BIN)/ruff check grokscan tests scripts

clean:
	rm -rf $(VENV) out *.egg-info docs/_build docs/gallery docs/reference/api docs/_gallery_src
