# Two entry points: `make demo` and `make test`. Each creates .venv and installs when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test lint typecheck pytest install clean bench

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU torch first, pinned by constraints.txt, so nothing later pulls the CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	# Headless Chromium for the search page's end-to-end test (Debian packages; the test skips without it).
	command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	   (apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1)); } || \
	  echo "chromium not installed: the search page test will be skipped"
	# ffmpeg (with drawtext) and a TrueType font for the real-footage hook benchmark's renderer
	# (sv6d eval-hooks --real; its tests skip without them).
	command -v ffmpeg >/dev/null 2>&1 && [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get install -y -qq ffmpeg fonts-dejavu-core >/dev/null 2>&1 || \
	   (apt-get update -qq && apt-get install -y -qq ffmpeg fonts-dejavu-core >/dev/null 2>&1)); } || \
	  echo "ffmpeg not installed: the hook benchmark's render tests will be skipped"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m cli.demo

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python bench/encode.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
