# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test lint format demo serve clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest -n 2 -q -m "not slow"

# The first run a newcomer sees (scripts/demo.py): fine-tune Ultralytics' pretrained yolo11n.pt on the bundled
# coco8 when it can be fetched (the docs' first example); offline, one line says why and YOLO11n trains from
# scratch, validated on coco8's 4 training images. About a minute or two on 2 CPU cores.
demo: setup
	$(BIN)/python scripts/demo.py

# The platform on this machine with a ready demo (SQLite and files under the user data folder): an admin
# `admin` whose password is printed the first time, and coco8 as a public dataset. Ctrl+C stops it.
serve: setup
	$(BIN)/yoloforge server --demo

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
