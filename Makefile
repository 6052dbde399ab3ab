# The two entry points on a fresh machine: `make demo` and `make test`.
.PHONY: demo test lint crd

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

crd:
	cargo run --quiet -- crd > crds/mysqlinstances.mysqlinstance.io.yaml
