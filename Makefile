# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the pages' npm packages (htmx, uPlot, axe-core, Swagger UI, ReDoc), copied into a git-ignored static folder
WEB_VENDOR := yoloforge/platform/web/static/vendor/.installed

.PHONY: setup test lint format demo serve screenshots clean

setup: $(STAMP) $(WEB_VENDOR)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

$(WEB_VENDOR): package.json package-lock.json scripts/vendor_assets.mjs
	npm ci --no-audit --no-fund --loglevel=error
	touch $(WEB_VENDOR)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest -n 2 --dist loadgroup -q -m "not slow"

# The first run a newcomer sees (scripts/demo.py): fine-tune Ultralytics' pretrained yolo11n.pt on the bundled
# coco8 when it can be fetched (the docs' first example); offline, one line says why and YOLO11n trains from
# scratch, validated on coco8's 4 training images. About a minute or two on 2 CPU cores.
demo: setup
	$(BIN)/python scripts/demo.py

# The platform on this machine with a ready demo (SQLite and files under the user data folder): an admin
# `admin` whose password is printed the first time, and coco8 as a public dataset. Ctrl+C stops it.
serve: setup
	$(BIN)/yoloforge server --demo

# docs/screenshots/*.png of every page (light and dark at 1280 px, one at 390 px), shown in the README.
screenshots: setup
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) node_modules yoloforge/platform/web/static/vendor build *.egg-info .pytest_cache .ruff_cache
