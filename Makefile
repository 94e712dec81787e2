# melwrap's front door. `make run` does the main job; `make test` runs every test.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: deps build run test lint bench fmt

deps:
	./scripts/install-deps.sh

build:
	./scripts/install-deps.sh run
	$(CARGO) build --release

# The main job: build melwrap, then a real example package in the sandbox with a cache dir.
run: build
	./scripts/run-example.sh

test: deps
	$(CARGO) test --all-targets --no-fail-fast

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench: deps build
	@for b in scripts/bench-*.sh; do echo "== $$b"; "$$b" || exit 1; done
