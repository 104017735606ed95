# livevote — the two commands a newcomer needs: `make run` and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash
UV ?= uv
PYTEST_ARGS ?=
REPLICAS ?= 1

.PHONY: help install stack-up stack-down stack-status cluster-up cluster-down cluster-status run test lint format asyncapi web

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

install:  ## install the Python environment (uv, locked) and the local stack's servers
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	scripts/stack.sh install

stack-up: install  ## start RabbitMQ, FerretDB and stripe-mock on loopback (if not running)
	scripts/stack.sh up

stack-down:  ## stop the servers stack-up started
	scripts/stack.sh down

stack-status:  ## say which stack servers answer
	scripts/stack.sh status

cluster-up: install  ## a Kubernetes control plane with fake nodes on loopback, for deploy/k8s (built the first time: ~15 min)
	scripts/cluster.sh up

cluster-down:  ## stop the control plane cluster-up started
	scripts/cluster.sh down

cluster-status:  ## say which control plane parts answer, and the nodes
	scripts/cluster.sh status

WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json web/package-lock.json

web: web/dist/index.html  ## build the web app and admin panel (npm, locked; type-checked by tsc)

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build

run: install web  ## run the stack and every service (REPLICAS=2: two processes of each); Ctrl-C stops what it started
	$(UV) run --frozen python -m scripts.launch --replicas $(REPLICAS)

lint:  ## ruff (lint and format check) and mypy
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

format:  ## apply ruff's formatting and safe fixes
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

test: stack-up cluster-up web lint  ## lint, then every test (unit, integration, end-to-end, deploy/k8s on an API server) on real servers
	$(UV) run --frozen pytest $(PYTEST_ARGS)

.PHONY: bench
bench: install  ## votes/s through the whole system vs the plain peer and the broker's ceiling (BENCH_ARGS="--users 2000 --profile")
	$(UV) run --frozen python -m bench $(BENCH_ARGS)

.PHONY: bench-fanout
bench-fanout: install  ## one alert to 50,000 phones vs firebase-admin alone (BENCH_ARGS="--users 5000")
	$(UV) run --frozen python -m scripts.fanout_bench $(BENCH_ARGS)

.PHONY: bench-timers
bench-timers: install  ## 1,000 timers due within one second: lateness vs a bare asyncio timer
	$(UV) run --frozen python -m scripts.timers_bench $(BENCH_ARGS)

.PHONY: soak
MINUTES ?= 5
soak: install  ## mixed load while services crash, the broker restarts and the store freezes, then the books (MINUTES=30)
	$(UV) run --frozen python -m scripts.soak --minutes $(MINUTES) $(SOAK_ARGS)

asyncapi:  ## write docs/asyncapi.json, the AsyncAPI document of every message
	$(UV) run --frozen python -m contracts.asyncapi docs/asyncapi.json
