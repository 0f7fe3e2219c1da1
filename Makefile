# ndxp — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run monitor dashboards test test-faults test-fast lint fmt kafka bench bench-kafka bench-codec bench-registry bench-gateway-auth bench-door bench-tokens bench-sharing bench-small-publish bench-streams bench-connect clean

# ndxp, and the example third-party connector plugin (docs/connectors.md), which the tests run
# through a worker: one resolve, so the example's `ndxp` requirement is this checkout.
EXAMPLE_PLUGIN := examples/ndxp-feed-source

$(STAMP): pyproject.toml $(EXAMPLE_PLUGIN)/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]' -e '$(EXAMPLE_PLUGIN)[dev]'
	touch $@

install: $(STAMP)

## Start the whole hub on this machine: local Kafka, registry :8081, gateway :8080, connect :8083.
run: install
	$(BIN)/ndxp up

## Prometheus (Debian's `prometheus` package) scraping the hub of `make run`, on :9090, with the
## rules of deploy/monitoring/rules/ and Alertmanager (`prometheus-alertmanager`) on :9093; their
## configuration, targets and data in the data dir's monitoring/ (docs/operations.md).
monitor: install
	$(BIN)/ndxp monitor

## Regenerate the Grafana dashboards (deploy/monitoring/grafana/dashboards/*.json) from
## services/hub/dashboards/boards.py; commit the JSON (a unit test checks it is current).
dashboards: install
	$(BIN)/python -m services.hub.dashboards

## Fetch the Apache Kafka jars into the cache (~/.cache/ndxp) once.
kafka: install
	$(BIN)/ndxp kafka fetch

## Lint, type-check and run every test against a real broker (and a real PostgreSQL), but the
## fault suite.
test: install kafka lint
	$(BIN)/pytest -m "not faults"

## The fault suite: parts of running hubs killed (kill -9) or stopped (SIGSTOP) while they work.
test-faults: install kafka
	$(BIN)/pytest -m faults

## Tests only, no lint (for the inner loop).
test-fast: install kafka
	$(BIN)/pytest -x -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/ndxp schemas lint
	$(BIN)/ndxp schemas lint $(wildcard examples/*/schemas/*/*.avsc)

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Benchmarks print their figures; they are not part of `make test`.
bench: bench-kafka bench-codec bench-registry bench-gateway-auth bench-door bench-tokens bench-sharing bench-small-publish bench-streams bench-connect

## Raw aiokafka + fastavro producer throughput: the data plane's ceiling on this machine.
bench-kafka: install kafka
	$(BIN)/python -m bench.kafka_produce

## Registry: 1,000 schemas, then GET /schemas/ids/{id} from 100 clients for 30 s (needs Go).
bench-registry: install kafka
	$(BIN)/python -m bench.registry

## Contract codec: validate+encode and decode records/s on one core.
bench-codec: install
	$(BIN)/python -m bench.codec

## Gateway door: tokens/s, and authenticated GET /v1/catalog/{dataset} from 100 clients (needs Go).
bench-gateway-auth: install kafka
	$(BIN)/python -m bench.gateway_auth

## The door in one run (needs wrk): a bare FastAPI route verifying the RS256 JWT (the reference),
## registry GET /schemas/ids/{id} with a bearer token and with Basic, gateway GET /v1/catalog/{dataset};
## 100 connections, one process each; req/s, p50/p99 and the ratio to the reference.
bench-door: install kafka
	$(BIN)/python -m bench.door

## Token endpoint: tokens/s, p50/p99 and CPU ms per token of one gateway process, 16 clients
## (BENCH_CLIENTS, BENCH_SECONDS; BENCH_PROFILE=file records it with py-spy; needs Go).
bench-tokens: install kafka
	$(BIN)/python -m bench.tokens

## Small publishes: one client posting 10-record batches (BENCH_BATCH) back to back: p50/p99 and
## CPU ms per request of one gateway process (needs Go).
bench-small-publish: install kafka
	$(BIN)/python -m bench.small_publish

## Publish through the gateway: events/s of 500-record batches from 1 and 16 clients, beside the
## raw aiokafka + fastavro producer (needs Go).
bench-sharing: install kafka
	$(BIN)/python -m bench.sharing

## SSE streams of one agency (BENCH_STREAMS, default 2,000) held by a Go client (needs Go), events
## published at BENCH_RATE ev/s (1,000) for BENCH_SECONDS (20), to the topic or through a gateway
## (BENCH_PUBLISH=kafka|gateway): delivered/expected, p50/p99 publish -> delivered, RSS per
## stream, Kafka consumers and connections, the gateway's CPU idle and busy.
bench-streams: install kafka
	$(BIN)/python -m bench.streams

## Connectors: sql-source rows/s from a 1,000,000-row PostgreSQL table into Kafka (target 20,000;
## needs the PostgreSQL server binaries; BENCH_ROWS sets the rows), then webhook-sink deliveries/s
## of 200,000 records to a local signature-checking receiver (BENCH_WEBHOOK_RECORDS,
## BENCH_WEBHOOK_BATCH records per request, default 100).
bench-connect: install kafka
	$(BIN)/python -m bench.connect

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
