# minidock: the two commands that matter are `make lab` and `make test`.
PYTHON   ?= python3
VENV     := .venv
BIN      := $(CURDIR)/$(VENV)/bin
# the notebooks' `!minidock ...` cells and the tests find the CLI on PATH
export PATH := $(BIN):$(PATH)

# Debian packages: the base image's busybox, graphviz for pictures, the real
# peers minidock is tested against (docs/testing.md), and what Debian's python3 needs to run
# minidock as an unprivileged user (the rootless tests; python3-seccomp for its seccomp filter; slirp4netns for
# its containers' user-mode network), the chromium that
# tests/test_browser.py drives through Playwright (Playwright never downloads one), and a
# Chinese font, so graphviz sizes and the browser draws the Chinese edition's characters.
APT_PACKAGES := busybox-static graphviz util-linux iproute2 proot \
                podman skopeo umoci runc docker-registry docker.io \
                python3-tqdm python3-pyroute2 chromium fonts-wqy-microhei libseccomp2 \
                python3-seccomp slirp4netns
NOTEBOOKS    := notebooks
CHAPTERS     ?= $(patsubst $(NOTEBOOKS)/%,%,$(wildcard $(NOTEBOOKS)/[0-9]*.ipynb $(NOTEBOOKS)/zh/[0-9]*.ipynb))
NBVAL        := --nbval --nbval-current-env --nbval-sanitize-with $(NOTEBOOKS)/sanitize.cfg
LAB_PORT     ?= 8888
REGISTRY_ADDR ?= 127.0.0.1:5000

.PHONY: setup apt venv bytecode test unit notebooks lab bootstrap regen-notebooks bench docs clean

setup: apt venv bytecode bootstrap  ## install everything (idempotent)

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "apt: all packages present"; \
	elif [ "$$(id -u)" != 0 ]; then echo "apt: not root, cannot install: $$missing"; \
	else \
	  [ -e /usr/sbin/policy-rc.d ] || printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
	  chmod +x /usr/sbin/policy-rc.d; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[course,test,docs]'
	touch $@

bytecode: venv  ## compile the package once, so a learner's first commands do not (PYTHONDONTWRITEBYTECODE or not)
	$(BIN)/python -m compileall -q minidock

bootstrap: venv  ## the base image busybox:latest in the default store
	$(BIN)/minidock bootstrap busybox

test: setup  ## the whole suite: unit, kernel, interop and every notebook under nbval
	$(BIN)/python -m pytest -q -rs $(NBVAL) tests $(NOTEBOOKS)

unit: venv  ## what needs no root, no peer, no browser and is not slow: a minute at most
	$(BIN)/python -m pytest -q -rs -m "not root and not peers and not browser and not slow" tests

notebooks: venv  ## every notebook under nbval; the checks' verdicts go to a temp progress file, not the home's
	progress=$$(mktemp -d) && trap 'rm -rf $$progress' EXIT && \
	MINIDOCK_COURSE_PROGRESS=$$progress/course-progress.json $(BIN)/python -m pytest -q -rs $(NBVAL) $(NOTEBOOKS)

regen-notebooks: venv  ## re-execute every notebook, both editions (or CHAPTERS="01-images.ipynb zh/01-images.ipynb"), and store its outputs
	progress=$$(mktemp -d) && trap 'rm -rf $$progress' EXIT && \
	cd $(NOTEBOOKS) && export MINIDOCK_COURSE_RECORD=1 MINIDOCK_COURSE_PROGRESS=$$progress/course-progress.json && \
	for nb in $(CHAPTERS); do \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.record_timing=False "$$nb" \
	  && $(BIN)/jupyter nbconvert --coalesce-streams --inplace "$$nb" \
	  && $(BIN)/python ../tools/tidy_notebooks.py "$$nb" || exit 1; done

lab: setup  ## open the course in JupyterLab on 127.0.0.1 at its landing page (both editions), with the course's registry beside it
	$(BIN)/minidock registry serve --addr $(REGISTRY_ADDR) & registry=$$!; \
	trap 'kill $$registry 2>/dev/null; wait $$registry' EXIT INT TERM; \
	cd $(NOTEBOOKS) && MINIDOCK_REGISTRY_MIRROR=http://$(REGISTRY_ADDR) \
	  $(BIN)/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) --no-browser \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) welcome.ipynb

docs: venv  ## both books, English and Chinese (chapters from their stored outputs, CLI and API reference), warnings as errors
	$(BIN)/sphinx-build -q -W --keep-going -b html docs docs/_build/html
	$(BIN)/sphinx-build -q -W --keep-going -b html docs/zh docs/_build/html/zh
	@echo "docs: docs/_build/html/index.html (中文版: docs/_build/html/zh/index.html)"

bench: setup  ## every benchmark against the real peers (not tests); exits 1 if any target is not met
	@status=0; for b in save_load commit run_latency registry build daemon durability; do \
	  echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || status=1; done; exit $$status

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
