# Set-up and the main entry points. `make repro` and `make test` are the README's two commands.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | cksum | cut -d' ' -f1)

# Stage commands (`pixelpred ...` in dvc.yaml) resolve to the project's environment.
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Runtime state stays inside the checkout (absolute paths: DVC experiments run in temp copies).
export RAY_USAGE_STATS_ENABLED := 0
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow/mlflow.db

.PHONY: env repro test experiments real report ui clean

env: $(STAMP)

$(STAMP): constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e ".[test]"
	rm -f $(VENV)/.installed-* && touch $@

# One local Ray cluster for all the training stages of a repro (`pixelpred cluster`); plain `dvc repro` works too.
repro: $(STAMP)
	$(BIN)/pixelpred cluster -- $(BIN)/dvc repro

# Two workers; the tests that start Ray run on one of them, one at a time (tests/conftest.py).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

experiments: $(STAMP)
	$(BIN)/pixelpred cluster -- $(BIN)/dvc repro experiments/dvc.yaml

# A real dataset at thesis scale: a DVC experiment with an overlay's values over params.yaml (docs/datasets.md),
# e.g. make real OVERLAY=datasets/params/nyuv2.yaml
real: $(STAMP)
	@test -n "$(OVERLAY)" || { echo "usage: make real OVERLAY=datasets/params/<dataset>.yaml"; exit 2; }
	args=$$($(BIN)/pixelpred --params params.yaml --params $(OVERLAY) overlay) && \
	$(BIN)/pixelpred cluster -- $(BIN)/dvc exp run -n $(basename $(notdir $(OVERLAY))) $$args

ui: $(STAMP)
	$(BIN)/pixelpred ui

clean:
	rm -rf .ray results data mlflow
