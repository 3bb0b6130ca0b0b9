# Shortcuts; each target does its own set-up.
.PHONY: run test bench bench-quick

run:
	./run.sh

test:
	./test.sh

bench:
	./scripts/bench.sh

bench-quick:
	./scripts/bench.sh --quick --repeat 1
