# `make run` sets up and serves; `make test` installs what tests need and runs them.
VENV    := .venv
BIN     := $(VENV)/bin
PORT    ?= 5000
FLASK   := $(BIN)/flask --app wsgi
QUEUE   ?= executions
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test bench lint format install clean

$(BIN)/python:
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime

## run: migrate, seed templates and serve on 127.0.0.1:$(PORT): 2 web workers running executions in
## their pools, or with REDIS_URL set 1 web worker and an RQ worker beside it
run: $(VENV)/.runtime
	$(FLASK) db upgrade
	$(FLASK) seed-templates
	@web_workers=2; if [ -n "$$REDIS_URL" ]; then \
		web_workers=1; \
		$(BIN)/rq worker --worker-class webapp.runs.worker.AppWorker --url "$$REDIS_URL" $(QUEUE) & \
		worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	fi; \
	$(BIN)/gunicorn --bind 127.0.0.1:$(PORT) --workers $$web_workers --threads $${WEB_THREADS:-8} --access-logfile - wsgi:app

## test: the whole suite (SQLite and PostgreSQL, Redis and rq workers, Chromium when present)
test: $(VENV)/.dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: the benchmark suite; prints a table and writes docs/benchmarks.md (needs wrk: installed if missing)
bench: $(VENV)/.dev
	@command -v wrk >/dev/null || { echo "bench: installing wrk"; apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
