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
                python3-seccomp slirp4netns python3-venv
NOTEBOOKS    := notebooks
CHAPTERS     ?= $(patsubst $(NOTEBOOKS)/%,%,$(wildcard $(NOTEBOOKS)/[0-9]*.ipynb $(NOTEBOOKS)/zh/[0-9]*.ipynb))
NBVAL        := --nbval --nbval-current-env --nbval-sanitize-with $(NOTEBOOKS)/sanitize.cfg
LAB_PORT     ?= 8888
REGISTRY_ADDR ?= 127.0.0.1:5000
# the classroom (deploy/jupyterhub/README.md): the learners' environment, the hub's files, its public port
CLASSROOM_PREFIX ?= /opt/minidock-classroom
CLASSROOM_PYTHON ?= /usr/bin/python3
export CLASSROOM_PREFIX   # tests/test_classroom_hub.py runs the learners' servers from it
CLASSROOM_STATE  ?= /var/lib/minidock-classroom
HUB_PORT         ?= 8000
HUB_DIR          := deploy/jupyterhub

.PHONY: setup apt venv bytecode test unit notebooks lab bootstrap regen-notebooks bench docs clean \
        classroom-env classroom-proxy classroom classroom-remove

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
	$(BIN)/pip install -q -e '.[course,test,docs,classroom]'
	touch $@

bytecode: venv  ## compile the package once, so a learner's first commands do not (PYTHONDONTWRITEBYTECODE or not)
	$(BIN)/python -m compileall -q minidock

bootstrap: venv  ## the base image busybox:latest in the default store
	$(BIN)/minidock bootstrap busybox

test: setup classroom-env classroom-proxy  ## the whole suite: unit, kernel, interop, the classroom's hub and every notebook under nbval
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

classroom-env: apt $(CLASSROOM_PREFIX)/.installed  ## the learners' environment: minidock, JupyterLab, jupyterhub-singleuser and the course, readable by all

# non-editable (the clone may sit in root's 0700 home), redone when the package, the course or the deps change;
# on Debian's python3: a venv's bin/python is a link to its interpreter, which learners must reach too
$(CLASSROOM_PREFIX)/.installed: pyproject.toml $(HUB_DIR)/learner_home.py \
		$(shell find minidock notebooks -type f -not -path '*/__pycache__/*' -not -path '*/.ipynb_checkpoints/*' 2>/dev/null)
	[ "$$(readlink -f $(CLASSROOM_PREFIX)/bin/python)" = "$$(readlink -f $(CLASSROOM_PYTHON))" ] || \
	  { rm -rf $(CLASSROOM_PREFIX) && $(CLASSROOM_PYTHON) -m venv $(CLASSROOM_PREFIX); }
	$(CLASSROOM_PREFIX)/bin/pip install -q --upgrade pip
	rm -rf build  # setuptools' build/lib would keep a module removed since, and install it
	$(CLASSROOM_PREFIX)/bin/pip install -q '.[course,singleuser]'
	$(CLASSROOM_PREFIX)/bin/pip install -q --no-deps --force-reinstall .
	rm -rf $(CLASSROOM_PREFIX)/share/minidock-classroom.new
	mkdir -p $(CLASSROOM_PREFIX)/share/minidock-classroom.new
	cp -r $(NOTEBOOKS) $(CLASSROOM_PREFIX)/share/minidock-classroom.new/course
	rm -rf $(CLASSROOM_PREFIX)/share/minidock-classroom.new/course/solutions \
	       $(CLASSROOM_PREFIX)/share/minidock-classroom.new/course/zh/solutions
	find $(CLASSROOM_PREFIX)/share/minidock-classroom.new \( -name .ipynb_checkpoints -o -name __pycache__ \) -prune -exec rm -rf {} +
	cp $(HUB_DIR)/learner_home.py $(CLASSROOM_PREFIX)/share/minidock-classroom.new/
	rm -rf $(CLASSROOM_PREFIX)/share/minidock-classroom
	mv $(CLASSROOM_PREFIX)/share/minidock-classroom.new $(CLASSROOM_PREFIX)/share/minidock-classroom
	chmod -R a+rX,go-w $(CLASSROOM_PREFIX)
	touch $@

classroom-proxy: $(HUB_DIR)/node_modules/.installed  ## configurable-http-proxy from npm, as package-lock.json pins it

$(HUB_DIR)/node_modules/.installed: $(HUB_DIR)/package.json $(HUB_DIR)/package-lock.json
	command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
	cd $(HUB_DIR) && npm ci --no-audit --no-fund
	touch $@

classroom: setup classroom-env classroom-proxy  ## JupyterHub on 127.0.0.1:$(HUB_PORT) for LEARNERS="ada grace" (or LEARNERS_FILE=names.txt), with the class registry; Ctrl-C stops it
	$(BIN)/python $(HUB_DIR)/classroom.py start --prefix $(CLASSROOM_PREFIX) --state $(CLASSROOM_STATE) \
	  --port $(HUB_PORT) $(if $(LEARNERS_FILE),--learners-file $(LEARNERS_FILE)) $(LEARNERS)

classroom-remove: venv  ## remove the accounts `make classroom` created (their homes too)
	$(BIN)/python $(HUB_DIR)/classroom.py remove --state $(CLASSROOM_STATE)

docs: venv  ## both books, English and Chinese (chapters from their stored outputs, CLI and API reference), warnings as errors
	$(BIN)/sphinx-build -q -W --keep-going -b html docs docs/_build/html
	$(BIN)/sphinx-build -q -W --keep-going -b html docs/zh docs/_build/html/zh
	@echo "docs: docs/_build/html/index.html (中文版: docs/_build/html/zh/index.html)"

bench: setup  ## every benchmark against the real peers (not tests); exits 1 if any target is not met
	@status=0; for b in save_load commit run_latency registry build daemon durability; do \
	  echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || status=1; done; exit $$status

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
