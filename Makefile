# Every target creates and uses .venv itself: on a fresh machine `make package` and `make test` do all the set-up.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PKG := deployment_package
IMAGE ?=
DEPLOY_FLAGS ?=
EVAL_FLAGS ?=
ISOLATED ?=
FORCE ?=
DATASET ?=
DATA ?=
PORT ?= 8000
INPUTS ?=
OUTPUT ?=
PREDICT_FLAGS ?=
NBS ?= nbs/index.ipynb nbs/00_core.ipynb nbs/01_train.ipynb nbs/build/12_build.package.ipynb

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): settings.ini setup.py constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e ".[tools,dev]"
	touch $@

setup: $(STAMP) ## create .venv with the pinned toolchain and install mod + prcvd from libraries/

lab: $(STAMP) ## open Jupyter Lab on nbs/ (installs jupyter into .venv: editing only, not CI or the deployment)
	$(BIN)/pip install -q -c constraints.txt jupyter==1.1.1
	cd nbs && ../$(BIN)/jupyter lab

export: $(STAMP) ## export nbs/ into libraries/mod and strip notebook metadata (outputs are kept)
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean

# exec_nb is execnb's (nbdev's own executor): it runs a notebook and saves it with its outputs. Each runs from its own
# folder, as nbdev_test runs it; one that fails stops the target and is left as it was.
outputs: export model ## re-run index, 00_core, 01_train, build/12_build.package in place (exec_nb) to refresh their committed outputs, then nbdev_clean; ~3 min (NBS="nbs/x.ipynb ..." for others)
	@set -e; for nb in $(NBS); do echo "make: running $$nb ..."; \
	  ( cd "$$(dirname "$$nb")" && "$(abspath $(BIN))/exec_nb" --exc_stop "$$(basename "$$nb")" --dest "$$(basename "$$nb")" ); done
	$(BIN)/nbdev_clean

train: $(STAMP) ## train the demo pipeline into artefacts/<UTC time>/ and install it (DATASET=folder: your face/ + no_face/ pictures, or a CSV; a model of yours is replaced only with FORCE=1)
	$(BIN)/mod train $(if $(DATASET),--dataset "$(DATASET)") $(if $(filter 1 yes true,$(FORCE)),--force)

# Only when there is no model at all: a model of your own is never replaced behind your back.
$(PKG)/model1.pkl: | $(STAMP)
	@if [ -e $(PKG)/model1.json ]; then echo "make: $(PKG)/model1.json is there but model1.pkl is not: restore your model, or delete model1.json to train the demo model" >&2; exit 1; fi
	@echo "make: no model in $(PKG)/: training the demo model (make train) ..."
	$(BIN)/mod train

$(PKG)/%_spec.json: %_spec.json
	cp $< $@

model: $(PKG)/model1.pkl $(PKG)/input_spec.json $(PKG)/output_spec.json

package: export model ## validate deployment_package/ and zip it into a byte-reproducible deployment_package.zip (pins: environment_package.zip)
	$(BIN)/mod package

smoke: package ## run the built zip as UbiOps does, on its golden examples (or DATA=request.json, IMAGE=me.jpg); ISOLATED=1: in a venv of environment_package.zip's pins
	$(BIN)/mod smoke $(if $(DATA),--data "$(DATA)") $(if $(IMAGE),--image "$(IMAGE)") $(if $(filter 1 yes true,$(ISOLATED)),--isolated)

eval: package ## evaluate the zip on the seeded face set: recall, false positives, IoU, p50/p90 per family (EVAL_FLAGS="--seed 1", or packages side by side)
	$(BIN)/mod eval $(EVAL_FLAGS)

serve: package ## serve the zip on 127.0.0.1:8000 as deployment face-portrait v1 (PORT=8001; SERVE_FLAGS="--workers 2 --no-auth ...")
	$(BIN)/mod serve --port $(PORT) $(SERVE_FLAGS)

token: $(STAMP) ## create an API token for `make serve` (shown once); `mod token list|revoke ID` for the rest
	$(BIN)/mod token create

deploy: package ## deploy the zip as deploy.yaml says (env: UBIOPS_PROJECT, UBIOPS_API_HOST, UBIOPS_API_TOKEN; DEPLOY_FLAGS="--dry-run|--overwrite|--new-version")
	$(BIN)/mod deploy $(DEPLOY_FLAGS)

# `set -f`: a glob in INPUTS reaches mod as written (mod expands it, recursively with **), several inputs still split.
predict: $(STAMP) ## score INPUTS (a folder, a glob, a list file; or one image) on the deployed endpoint into OUTPUT (scores.jsonl); run again to resume
	@test -n "$(INPUTS)" || { echo "make predict INPUTS=photos/ (a folder, a glob such as 'photos/*.jpg', a list file, or an image) [OUTPUT=scores.jsonl] [PREDICT_FLAGS='--data values.json --version v2']" >&2; exit 2; }
	set -f; $(BIN)/mod predict $(INPUTS) $(if $(OUTPUT),--output "$(OUTPUT)") $(PREDICT_FLAGS)

# What exporting may change: tracked edits and untracked files under nbs/ and libraries/ (outside a git checkout,
# such as a copied folder, there is nothing to compare with, and the check passes).
SYNC_STATE = { git diff -- nbs libraries; git ls-files --others --exclude-standard -- nbs libraries; } 2>/dev/null | sha256sum

# nbdev_clean runs first: what it strips (execution counts, kernel and cell metadata of a notebook saved in Jupyter)
# is not drift, so it is normalised here rather than reported.
sync-check: $(STAMP) ## fail if nbdev_export would change libraries/ or nbs/ (notebooks and library drifted)
	@$(BIN)/nbdev_clean; before=$$($(SYNC_STATE)); $(BIN)/nbdev_export && $(BIN)/nbdev_clean; after=$$($(SYNC_STATE)); \
	[ "$$before" = "$$after" ] || { git status --short -- nbs libraries; \
	  echo "nbs/ and libraries/mod were out of sync (now exported): review and commit both"; exit 1; }
	@echo "notebooks and libraries/mod are in sync"

# The browser tests drive a real Chromium. Where apt exists it is Debian's package (Playwright's own browser download
# does not work on every machine, this one included); elsewhere Playwright's. Installed once, only when none is found.
browser: $(STAMP) ## make sure a Chromium for the browser tests exists (apt's chromium, else `playwright install chromium`)
	@if command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if command -v apt-get >/dev/null; then \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo "sudo -n"); \
	  echo "make: installing Debian's chromium for the browser tests (apt-get, 1-2 minutes) ..."; \
	  { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || { echo "make: could not install chromium with apt-get: run 'sudo apt-get install chromium', then make test again" >&2; exit 1; }; \
	elif ! $(BIN)/playwright install chromium; then \
	  echo "make: no Chromium for the browser tests: install chromium, or run '$(BIN)/playwright install chromium'" >&2; exit 1; \
	fi

# 01_train and 02_evaluate train and measure the demo model: their tests run while it is the installed model (as
# tests/test_demo.py does), since a model of yours may have another interface.
DEMO_INSTALLED = $(shell $(BIN)/python -c 'import json, sys; sys.exit(json.load(open("$(PKG)/model1.json")).get("trained_by") != "mod train")' 2>/dev/null && echo yes)

test: sync-check package browser ## run the sync check, pytest (prcvd and mod) and the notebooks' own tests (nbdev_test)
	$(BIN)/python -m pytest -q tests
	@$(if $(DEMO_INSTALLED),,echo "make: $(PKG)/model1.pkl is not the demo model: the demo's notebooks 01_train and 02_evaluate are not tested")
	$(BIN)/nbdev_test --n_workers 1 $(if $(DEMO_INSTALLED),,--skip_file_re '^([_.]|0[12]_)')

clean: ## remove build outputs and caches (keeps the installed model, .venv and artefacts/)
	rm -rf $(PKG)/*_spec.json .pytest_cache _docs _proc
	rm -rf $(PKG)/libraries $(PKG)/requirements.txt $(PKG).zip $(PKG).zip.partial $(PKG).build.json
	rm -rf environment_package environment_package.zip environment_package.zip.partial
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

.PHONY: help setup lab export outputs train model package smoke eval sync-check browser test clean deploy serve token predict
