# The two entry points on a fresh machine: `make demo` and `make test`.
.PHONY: demo test lint crd deploy

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

crd:
	cargo run --quiet -- crd > crds/mysqlinstances.mysqlinstance.io.yaml

# The chart's copies of the CRD and the alert rules, and deploy/operator.yaml rendered from the chart.
deploy:
	bash tests/chart/generate.sh
