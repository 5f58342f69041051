# make test: create .venv, install the project and the data, run the test suite.
# make demo: the same set-up, then the demo run (figures under runs/).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_PACKAGE := dataset-fashion-mnist
STAMP := $(VENV)/.installed

.PHONY: test demo lint notebooks setup data gpu-data clean

setup: $(STAMP) data

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

data:
	@if [ -d /usr/share/datasets/fashion-mnist ] || [ -n "$$DLFS_DATA_DIR" ]; then \
		echo "Fashion-MNIST: found"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && apt-get install -y -q $(DATA_PACKAGE); \
	elif $(PY) -c "from dlfs_common.dataset_files import download_dataset as d; print('Fashion-MNIST: downloaded to', d())"; then \
		:; \
	else \
		echo "Fashion-MNIST is not installed, this is not a root Debian/Ubuntu shell, and the download failed."; \
		echo "  Debian/Ubuntu: sudo apt-get install $(DATA_PACKAGE)"; \
		echo "  elsewhere: put the four Fashion-MNIST IDX files (train-images-idx3-ubyte.gz, ...)"; \
		echo "  in a folder and export DLFS_DATA_DIR=/that/folder"; \
		echo "Tests that need the real images will be skipped; the demo needs them."; \
	fi

# the Fashion-MNIST files, copied into .gpu-data/ (git-ignored) for tools/gpu_check.sh on a lent GPU machine
gpu-data: setup
	mkdir -p .gpu-data/fashion-mnist
	$(PY) -c "import shutil; from dlfs_common.dataset_files import find_dataset_files; \
	[shutil.copy(path, '.gpu-data/fashion-mnist/') for path in find_dataset_files('fashion-mnist').values()]"

# the quick suite, spread over the cores (at most 4 processes, an idle one takes tests queued for another);
# the slow one: $(PY) -m pytest -m slow
test: setup
	$(PY) -m pytest -n auto --maxprocesses 4 --dist worksteal

# re-execute the chapter notebooks (notebooks/chNN.py, quick settings) and store them with their outputs
notebooks: setup
	$(PY) tools/notebooks.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

demo: setup
	$(PY) -m experiments demo

clean:
	rm -rf $(VENV) runs .hypothesis
