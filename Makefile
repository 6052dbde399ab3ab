# The two entry points on a fresh machine: `make demo` and `make test`.
.PHONY: demo test lint crd deploy chaos bench

demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

# The full chaos suite on a cluster of its own (docs/chaos.md); `make test` runs a short one.
chaos:
	bash scripts/chaos.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

crd:
	cargo run --quiet -- crd > crds/mysqlinstances.mysqlinstance.io.yaml

# The chart's copies of the CRD and the alert rules, and deploy/operator.yaml rendered from the chart.
deploy:
	bash tests/chart/generate.sh

# The operator at scale against the null-operator floor; rewrites docs/performance.md and its plots.
# `make bench BENCH_ARGS="--instances 300 --idle 60 --baseline HEAD~1"`
bench:
	python3 scripts/bench.py $(BENCH_ARGS)
