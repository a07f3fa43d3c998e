# Every target installs what it needs into .venv on first use.
VENV := .venv
export PATH := $(abspath $(VENV))/bin:$(PATH)
PORT ?= 8787

.DEFAULT_GOAL := help

$(VENV)/.installed: pyproject.toml scripts/install.sh
	@echo "Installing the project and its tools into $(VENV) (once; about a minute)..."
	scripts/install.sh

.PHONY: install  ## Create .venv and install the project, generators and test tools
install: $(VENV)/.installed

.PHONY: gen  ## Regenerate generated/ (effective spec, client, server models) from openapi/ + overrides/
gen: install
	scripts/gen.sh

.PHONY: update-spec  ## Take a newly published spec into openapi/ and pin it, saying what changes (SPEC=FILE [SOURCE=URL] [FAIL_ON=breaking]); then make gen
update-spec: install
	@test -n "$(SPEC)" || { echo "usage: make update-spec SPEC=path/to/published.yaml [SOURCE=where-it-was-published]"; exit 2; }
	python scripts/update_spec.py "$(SPEC)" $(if $(SOURCE),--source "$(SOURCE)") $(if $(FAIL_ON),--fail-on "$(FAIL_ON)")

.PHONY: gen-check  ## Fail if generated/ differs from what `make gen` writes
gen-check: install
	scripts/gen-check.sh

.PHONY: serve  ## Run the server on 127.0.0.1:8787, or PORT=N, also answering plain OpenAI requests (Swagger UI at /v1/ui/)
serve: install
	portkey-stub serve --port $(PORT) --openai-compatible

.PHONY: image  ## Build the container image portkey-stub (latest and the version) with podman or docker; docs/deploy.md
image: install
	scripts/image.sh

.PHONY: test  ## Run the whole test suite: unit, contract, wire and harness tiers, schemathesis and the regeneration check included
test: install
	pytest -n auto --dist loadgroup

.PHONY: test-unit  ## The fast loop: unit tests only (no server started), under 30 s
test-unit: install
	pytest tests/unit -m "not slow"

.PHONY: fuzz  ## schemathesis against a live server (five auth sets x 2000 examples), then atheris on the parsers (60 s each)
fuzz: install
	scripts/fuzz.sh
	python scripts/fuzz_atheris.py --seconds 60

.PHONY: robustness  ## Hostile input, injected faults, a 100k-request soak and planted secrets: a table where every row must hold
robustness: install
	python scripts/robustness.py

.PHONY: bench  ## The server under load (wrk; memory and Redis state), streams, RSS, start-up, gateway, engine: medians beside same-run baselines
bench: install
	python scripts/bench.py

.PHONY: bench-engine  ## The engine in-process: tokens/s by sampling mode, p50/p90 of a 16-token completion
bench-engine: install
	python scripts/bench_engine.py

.PHONY: bench-asgi  ## The app's own cost per request, in-process (no sockets), beside bare Starlette's
bench-asgi: install
	python scripts/bench_asgi.py

.PHONY: bench-instructions  ## Instructions per request under cachegrind (needs valgrind): what noise does not move
bench-instructions: install
	python scripts/bench_instructions.py

.PHONY: bench-gateway  ## The gateway's added latency (p50, p99) against calling the upstream directly
bench-gateway: install
	python scripts/bench_gateway.py
	python scripts/bench_gateway.py --stream

.PHONY: bench-fixture  ## A contract test's cost with the portkey_stub fixture beside respx (files of 1, 20, 100 tests)
bench-fixture: install
	python scripts/bench_fixture.py

.PHONY: lint  ## Lint and format-check the hand-written code (functions: complexity 15, 60 lines); mypy --strict; the rooms' import contracts
lint: install
	ruff check overrides scripts tests
	ruff format --check overrides scripts tests
	python scripts/function_length.py overrides
	mypy
	lint-imports --no-logo

.PHONY: help  ## List the targets
help:
	@awk -F '  ## ' '/^\.PHONY: [a-z-]+  ## / { sub(/^\.PHONY: /, "", $$1); printf "  make %-18s %s\n", $$1, $$2 }' Makefile
