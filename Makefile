# formcase: `make serve` to run it, `make test` to test it. Both install what is missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.8
FORMCASE := $(VENV)/bin/formcase
# Debian packages formcase needs to run (WeasyPrint's text layout and fonts, for PDFs), the
# tests need besides (a browser for the fill page, pdftotext and pdfsig with NSS tools to
# read and check PDFs) and the benchmarks need.
APT_RUN := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core tesseract-ocr tesseract-ocr-eng tesseract-ocr-fra tesseract-ocr-nld tesseract-ocr-deu
APT_TEST := chromium poppler-utils libnss3-tools
APT_BENCH := wrk qpdf curl
export FORMCASE_TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
export FORMCASE_TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install serve test lint typecheck pytest bench apt-run apt-test apt-bench clean

$(UV):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode
	touch $@

install: $(VENV)/.synced

serve: install apt-run
	$(FORMCASE) db upgrade
	$(FORMCASE) demo
	$(FORMCASE) serve

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
endef

apt-run:
	$(call apt_install,$(APT_RUN))

apt-test: apt-run
	$(call apt_install,$(APT_TEST))

apt-bench:
	$(call apt_install,$(APT_BENCH))

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install
	$(VENV)/bin/mypy

pytest: install apt-test
	$(VENV)/bin/pytest

test: lint typecheck pytest

bench: install apt-bench
	$(PY) bench/forms.py
	$(PY) bench/cases.py
	$(PY) bench/attachments.py
	$(PY) bench/fill.py
	$(PY) bench/webhooks.py
	$(PY) bench/docintel.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
