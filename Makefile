# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
DEMO_CLIP := /usr/share/doc/opencv-doc/examples/data/vtest.avi
CHROMIUM := /usr/bin/chromium
MOSQUITTO := /usr/sbin/mosquitto
export VEILLEUR_MODELS_DIR ?= $(if $(wildcard $(SHARED)/models),$(SHARED)/models,)

.PHONY: install demo test lint evaluate clean

$(BIN)/veilleur: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/veilleur

$(DEMO_CLIP):
	# OpenCV's sample clip (PETS 2009 S2L1) ships in Debian's opencv-doc.
	apt-get update -qq && apt-get install -y -qq opencv-doc >/dev/null

$(CHROMIUM):
	# Debian's Chromium, driven by Playwright in the console's browser tests.
	apt-get update -qq && apt-get install -y -qq chromium >/dev/null

$(MOSQUITTO):
	# Debian's Mosquitto: the real MQTT broker of the delivery tests (tests start their own).
	apt-get update -qq && apt-get install -y -qq mosquitto >/dev/null

demo: install $(DEMO_CLIP)
	$(BIN)/veilleur demo --data-dir out/demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: install lint $(CHROMIUM) $(MOSQUITTO)
	VEILLEUR_SHARED=$(SHARED) $(BIN)/pytest

# The truth files of the real clips; a new file is one word here (tests/integration/
# test_matrix_real.py runs the same list).
EVAL_TRUTHS = evaluation/real.yaml evaluation/pets_s2l1.yaml

# Every situation on every real clip (the matrix of docs/evaluation.md), and the synthetic
# scenarios as they are configured.
evaluate: install
	VEILLEUR_SHARED=$(SHARED) $(BIN)/veilleur evaluate $(addprefix --truth ,$(EVAL_TRUTHS)) \
		--all-situations --scenarios out/scenarios --out out/evaluation

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
