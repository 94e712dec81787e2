# melwrap's front door. `make run` does the main job; `make test` runs every test.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: deps build run test test-unprivileged test-busybox-static unprivileged-user lint bench fmt

deps:
	./scripts/install-deps.sh

build:
	./scripts/install-deps.sh run
	$(CARGO) build --release

# The main job: build melwrap, then a real example package in the sandbox with a cache dir.
run: build
	./scripts/run-example.sh

# Everything: the unit tests in src/ and the one integration test binary, tests/it. A subset of
# the integration tests: `cargo test --test it FILTER` (FILTER matches the module path, e.g.
# `hostile::` or `pipelines::run::patch`).
test: deps
	$(CARGO) test --all-targets --no-fail-fast

# From root (as CI runs): the whole suite again as the ordinary user USER_NAME, as a developer
# runs `make test` on a laptop. The user must exist and be able to read this checkout.
USER_NAME ?= dev
test-unprivileged: unprivileged-user deps
	CARGO="$(CARGO)" ./scripts/test-unprivileged.sh "$(USER_NAME)"

# The tests that use the host's busybox again, with Debian's busybox-static in its place
# (swapped back afterwards). Root or sudo; Debian/Ubuntu only.
test-busybox-static: deps
	CARGO="$(CARGO)" ./scripts/test-busybox-static.sh

unprivileged-user:
	@getent passwd "$(USER_NAME)" >/dev/null || { echo "error: there is no user \`$(USER_NAME)\`; create one (useradd -m $(USER_NAME)) or pass USER_NAME=NAME" >&2; exit 2; }

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench: deps build
	@for b in scripts/bench-*.sh; do echo "== $$b"; "$$b" || exit 1; done
