# `make run` and `make test` set up everything they need from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DATA ?= ../shared/data/cifar10-jpeg.tar.gz
PHOTOS ?= var/real-photos
FUZZ_SECONDS ?= 60
CHROMIUM ?= /usr/bin/chromium
MSGFMT ?= /usr/bin/msgfmt
NPM ?= /usr/bin/npm
# Folders whose files hold no text of the site's own (makemessages would read node_modules' scripts too).
MESSAGES_IGNORE := --ignore=node_modules --ignore=var --ignore=tests --ignore=bench --ignore=models --ignore=mlcore \
	--ignore=deploy --ignore=locale
export TF_ENABLE_ONEDNN_OPTS ?= 1
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup browser gettext messages run test test-suite deploy-check public-check scale-check fuzz lint format train bench bench-load clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(BIN)/.installed

# The browser tests drive Debian's Chromium (Playwright's own browser download is never used); installed when missing.
$(CHROMIUM):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

# axe-core (package.json), which the browser tests inject into every page to check accessibility.
$(NPM):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm

node_modules/.package-lock.json: package.json package-lock.json | $(NPM)
	npm ci --no-audit --no-fund

browser: $(CHROMIUM) node_modules/.package-lock.json

# GNU gettext: makemessages and compilemessages need it, and so does the test that every text is translated.
$(MSGFMT):
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gettext

gettext: $(MSGFMT)

# Refresh every language's catalogues from the code and templates (then translate what is new or fuzzy), compile.
messages: setup gettext
	$(BIN)/python manage.py makemessages --all --no-obsolete $(MESSAGES_IGNORE)
	$(BIN)/python manage.py makemessages --all --no-obsolete --domain djangojs $(MESSAGES_IGNORE)
	$(BIN)/python manage.py compilemessages --ignore=.venv

run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py register_model models/cifar10/experts/cifar10-efficientnet-lite0  # the previous model, compared on the Model data page
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "Serving on http://$(HOST):$(PORT)/  (create an admin with: $(BIN)/python manage.py createsuperuser)"
	HOST=$(HOST) PORT=$(PORT) $(BIN)/gunicorn classifier_site.wsgi  # settings in gunicorn.conf.py

test: setup lint browser test-suite

# The suite alone, on whatever DATABASE_URL names (SQLite by default; .ci/run repeats it on PostgreSQL).
test-suite: setup browser gettext
	$(BIN)/python manage.py makemigrations --check --dry-run --settings classifier_site.settings.test
	$(BIN)/python -m pytest

# The container's install, build and start steps, run here with the project's venv (deploy/ holds them).
deploy-check: setup
	PYTHON=$(BIN)/python deploy/install.sh --quiet
	PYTHON=$(BIN)/python deploy/build.sh
	PYTHON=$(BIN)/python deploy/smoke.sh

# The production server on 127.0.0.1 as an attacker and its users meet it: passwords, lock-outs, limits, bounded
# requests, the CSV export (docs/deploying.md, "Security"). About a minute.
public-check: setup
	PYTHON=$(BIN)/python deploy/build.sh
	$(BIN)/python deploy/public_check.py

# Two production app servers on one PostgreSQL (DATABASE_URL: source .ci/postgres.sh) and one S3 bucket (moto),
# behind nginx (installed from Debian when missing); docs/deploying.md, "More than one machine". About a minute.
scale-check: setup
	PYTHON=$(BIN)/python deploy/build.sh
	PYTHON=$(BIN)/python deploy/scale_check.sh

# Each fuzz target (fuzz/) for FUZZ_SECONDS, one after another; fails on any crash, kept in var/fuzz/crashes/.
fuzz: setup
	$(BIN)/python fuzz/run.py --seconds $(FUZZ_SECONDS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The shipped bundle: a new EfficientNet-Lite0 run, the airbench network kept for thumbnails, the ImageNet expert
# weighed on the real photos (docs/model.md, "Evaluating", says how to lay them out in var/real-photos).
train: setup
	$(BIN)/python manage.py train --data $(DATA) --out models/cifar10 --photos $(PHOTOS) \
		--thumbnail-expert models/cifar10/experts/cifar10-airbench

bench: setup
	$(BIN)/python bench/bench_model.py
	$(BIN)/python bench/bench_api.py

# The site under gunicorn with 8 clients uploading (about 3 minutes; bench/RESULTS.md, "Uploads under load").
bench-load: setup
	$(BIN)/python bench/bench_load.py load

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .ruff_cache
