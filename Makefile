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

# The main job: train YOLO11n from scratch on the bundled coco8 sample (CPU, about a minute), then
# validate best.pt on the training images too: 4 images cannot teach the val images, but the fit shows.
demo: setup
	$(BIN)/yoloforge detect train data=coco8.yaml model=yolo11n.yaml epochs=120 imgsz=160 batch=2 \
		optimizer=SGD lr0=0.02 warmup_epochs=2 close_mosaic=30 workers=2 device=cpu \
		project=runs/demo name=coco8 exist_ok=True
	$(BIN)/yoloforge detect val model=runs/demo/coco8/weights/best.pt data=coco8.yaml split=train \
		imgsz=160 batch=2 project=runs/demo name=coco8-train-split exist_ok=True

# The platform on this machine with a ready demo (SQLite and files under the user data folder): an admin
# `admin` whose password is printed the first time, and coco8 as a public dataset. Ctrl+C stops it.
serve: setup
	$(BIN)/yoloforge server --demo

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
