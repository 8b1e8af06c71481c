# Developer entry points. See scripts/stack.sh for the private PostgreSQL + Redis.
.DEFAULT_GOAL := help

.PHONY: help run test bench fmt lint stack-up stack-down clean-stack

help:
	@echo "Targets:"
	@echo "  run          start dev stack (pg :55432, redis :56379), migrate, run roost-api + roost-ingest"
	@echo "  test         fresh test stack (pg :55433, redis :56380), fmt check, clippy, tests"
	@echo "               (extra runner args: make test ARGS='-- some_filter')"
	@echo "  bench        SPEC §5 benchmarks on release builds (pg :55434, redis :56381, api :18080);"
	@echo "               report in .roost/bench/report.md and report.json"
	@echo "               (settings: cargo xtask bench --help; BENCH_* environment variables)"
	@echo "  fmt          cargo fmt --all"
	@echo "  lint         cargo fmt --all --check + cargo clippy --workspace --all-targets -D warnings"
	@echo "  stack-up     start the 'run' profile stack (env: scripts/stack.sh env run)"
	@echo "  stack-down   stop the 'run' profile stack (data kept)"
	@echo "  clean-stack  stop and delete both profiles' state (.roost/run, .roost/test)"

run:
	scripts/run.sh

test:
	scripts/test.sh $(ARGS)

bench:
	cargo xtask bench

fmt:
	cargo fmt --all

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

stack-up:
	scripts/stack.sh up run

stack-down:
	scripts/stack.sh down run

clean-stack:
	scripts/stack.sh down run --purge
	scripts/stack.sh down test --purge
	scripts/stack.sh down bench --purge
